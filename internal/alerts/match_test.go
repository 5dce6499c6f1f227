package alerts

import (
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

func TestMatch(t *testing.T) {
	core := Match{Types: []string{"member.failed", "check.status_changed"}, Severity: []string{"critical"}, Nodes: []string{"kuma-core-*"}}
	cases := []struct {
		name  string
		m     Match
		node  string
		typ   events.Type
		sev   events.Severity
		match bool
	}{
		{"empty matches all", Match{}, "anything", events.LeaseRenewed, events.SeverityInfo, true},
		{"all three pass", core, "kuma-core-1.example.com", events.MemberFailed, events.SeverityCritical, true},
		{"second type passes", core, "kuma-core-2", events.CheckStatusChanged, events.SeverityCritical, true},
		{"wrong type", core, "kuma-core-1", events.MemberJoined, events.SeverityCritical, false},
		{"wrong severity", core, "kuma-core-1", events.MemberFailed, events.SeverityWarning, false},
		{"wrong node", core, "kuma-collector-1", events.MemberFailed, events.SeverityCritical, false},
		{"type glob", Match{Types: []string{"healing.*"}}, "n", events.HealingRefused, events.SeverityInfo, true},
		{"type glob misses", Match{Types: []string{"healing.*"}}, "n", events.LeaseAcquired, events.SeverityInfo, false},
		{"severity list", Match{Severity: []string{"warning", "critical"}}, "n", events.LeaseAcquired, events.SeverityWarning, true},
		{"node char class", Match{Nodes: []string{"kuma-core-[12]"}}, "kuma-core-3", events.MemberFailed, events.SeverityInfo, false},
		{"node exact", Match{Nodes: []string{"kuma-core-3"}}, "kuma-core-3", events.MemberFailed, events.SeverityInfo, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := mustEvent(t, c.node, c.typ, c.sev)
			if got := c.m.Matches(ev); got != c.match {
				t.Errorf("Matches(%s %s %s) = %v, want %v", c.node, c.typ, c.sev, got, c.match)
			}
		})
	}
}
