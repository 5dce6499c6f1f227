package agent

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/agent/mesh"
	"github.com/kuma-agent/kuma-agent/agent/metrics"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
)

// memberLog is the mesh's event sink: it counts member events and
// remembers when each member entered its current status. (The NATS sink
// of the events issue will receive the same events.)
type memberLog struct {
	mu     sync.Mutex
	since  map[string]time.Time
	counts *metrics.CounterVec
	emit   func(mesh.MemberEvent)
}

func newMemberLog(counts *metrics.CounterVec, emit func(mesh.MemberEvent)) *memberLog {
	return &memberLog{since: map[string]time.Time{}, counts: counts, emit: emit}
}

// HandleMemberEvent implements mesh.EventSink; the mesh already logs.
func (l *memberLog) HandleMemberEvent(e mesh.MemberEvent) {
	l.counts.With(e.Type).Inc()
	if l.emit != nil {
		l.emit(e)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.Type == "update" {
		return
	}
	for _, m := range e.Members {
		l.since[m.Name] = e.Time
	}
}

func (l *memberLog) sinceOf(name string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.since[name]
}

// vouch is the inventory's word on member m (cluster.Vouch): its host when
// the inventory has m's name at m's address, else why m is not believed.
// This node is believed under its own name when the inventory has it: it
// knows who it is, whatever address it gossips from.
func (a *Agent) vouch(m mesh.Member) (*cluster.Host, error) {
	if m.Name == a.node.Name && a.cluster != nil {
		if h := a.cluster.Host(m.Name); h != nil {
			return h, nil
		}
	}
	return a.cluster.Vouch(m.Name, m.Addr)
}

// believedMembers are the mesh members the inventory vouches for: the
// only ones any decision (guard, rejoin, cleanup, lease takeover) looks at.
func (a *Agent) believedMembers() []mesh.Member {
	var out []mesh.Member
	for _, m := range a.mesh.Members() {
		if _, err := a.vouch(m); err == nil {
			out = append(out, m)
		}
	}
	return out
}

// clusterMembers converts the mesh's view for the cluster checks and the CLI.
func (a *Agent) clusterMembers() ([]clusterchecks.Member, []control.MemberInfo) {
	var cm []clusterchecks.Member
	var info []control.MemberInfo
	ms := a.mesh.Members()
	slices.SortFunc(ms, func(x, y mesh.Member) int { return strings.Compare(x.Name, y.Name) })
	for _, m := range ms {
		t, err := clusterchecks.DecodeTags(m.Tags)
		mi := control.MemberInfo{Name: m.Name, Addr: m.Addr, Status: m.Status, Roles: []string{}, Since: a.events.sinceOf(m.Name)}
		if err != nil {
			mi.TagsError = err.Error()
		}
		if a.cluster != nil {
			if _, err := a.vouch(m); err != nil {
				mi.Ignored = err.Error() + "; ignored for every decision"
			}
		}
		for _, r := range t.Roles {
			mi.Roles = append(mi.Roles, string(r))
		}
		mi.Health = t.Health.Worst.String()
		mi.Failing = t.Health.Failing
		mi.Version = t.Version
		info = append(info, mi)
		cm = append(cm, clusterchecks.Member{Name: m.Name, Addr: m.Addr, Status: m.Status, Tags: t, Since: mi.Since})
	}
	return cm, info
}

// Failed reports whether the mesh has marked node failed or left: the
// verdict the coordination lease (lease.Liveness) needs before anyone may
// take over a lease node holds. A node the mesh does not know, or knows
// only as a member the inventory does not vouch for, is not "failed": no
// verdict, no takeover.
func (a *Agent) Failed(node string) bool {
	if a.mesh == nil {
		return false
	}
	for _, m := range a.believedMembers() {
		if m.Name == node {
			return m.Status == "failed" || m.Status == "left"
		}
	}
	return false
}
