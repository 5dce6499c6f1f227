package agent

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/statuspage"
)

// recentEventsKept bounds the events the status page lists: the outbox
// keeps events only until JetStream has them, so the page keeps its own
// short history, in memory, of what this agent emitted.
const recentEventsKept = 50

// recentEvents is a ring of the last events this agent emitted, with or
// without events enabled (the page shows them either way).
type recentEvents struct {
	mu   sync.Mutex
	ring []statuspage.Event
	next int
	full bool
}

func newRecentEvents(n int) *recentEvents { return &recentEvents{ring: make([]statuspage.Event, n)} }

func (r *recentEvents) add(e statuspage.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ring[r.next] = e
	r.next = (r.next + 1) % len(r.ring)
	if r.next == 0 {
		r.full = true
	}
}

// list returns the events oldest first.
func (r *recentEvents) list() []statuspage.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]statuspage.Event(nil), r.ring[:r.next]...)
	}
	return append(append([]statuspage.Event(nil), r.ring[r.next:]...), r.ring[:r.next]...)
}

// record keeps an emitted event for the page, with a one-line summary of
// its data.
func (r *recentEvents) record(t events.Type, subject string, sev events.Severity, data any, now time.Time) {
	r.add(statuspage.Event{Time: now, Type: string(t), Subject: subject, Severity: string(sev), Summary: eventSummary(data)})
}

// eventSummary is the line the page shows for an event's data.
func eventSummary(data any) string {
	switch d := data.(type) {
	case events.CheckData:
		return d.From + " → " + d.To + ": " + d.Message
	case events.ClusterCheckData:
		return d.Transition + " " + d.Previous + " → " + d.Status + ": " + d.Message
	case events.MemberData:
		return strings.TrimSpace(d.Status + " " + d.Addr)
	case events.UnitData:
		return strings.TrimSpace(d.ActiveState + " " + d.SubState + " " + d.Condition)
	case events.HealingData:
		s := d.Action + " " + d.Unit
		if d.DryRun {
			s += " (dry run)"
		}
		if d.Reason != "" {
			s += ": " + d.Reason
		}
		return s
	case events.LeaseData:
		return fmt.Sprintf("%s held by %s", d.Purpose, d.Holder)
	case events.AgentData:
		return "version " + d.Version
	}
	return ""
}
