package alerts

import (
	"path"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// Matches reports whether ev passes m: each non-empty list must have a glob
// matching the event's short type, severity or node respectively.
func (m Match) Matches(ev events.Event) bool {
	return anyGlob(m.Types, string(ev.ShortType())) &&
		anyGlob(m.Severity, string(ev.Severity)) &&
		anyGlob(m.Nodes, ev.Node())
}

func anyGlob(globs []string, s string) bool {
	if len(globs) == 0 {
		return true
	}
	for _, g := range globs {
		if ok, _ := path.Match(g, s); ok {
			return true
		}
	}
	return false
}
