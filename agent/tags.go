package agent

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
)

// tags is what this node gossips: roles, version, a health summary, a hash
// of its machine-id (never the id) and the check generation.
func (a *Agent) tags() map[string]string {
	t := clusterchecks.Tags{Roles: a.node.Roles, Version: a.opts.Version, Generation: a.sched.Generation(),
		MachineIDHash: a.machineIDHash, Units: a.unitsTag()}
	if a.sup != nil {
		t.Raft = a.sup.RaftState()
	}
	latest := a.sched.Latest()
	for _, o := range latest {
		t.Health.Worst = checks.Worst(t.Health.Worst, o.Status)
		if o.Status >= checks.Warn {
			t.Health.Failing = append(t.Health.Failing, o.Check)
		}
	}
	if len(latest) < len(a.plan.Checks) && t.Health.Worst < checks.Warn {
		// Not every check has run yet: "ok" would be a claim not yet earned.
		t.Health.Worst = checks.Unknown
	}
	slices.Sort(t.Health.Failing)
	m, err := clusterchecks.EncodeTags(t)
	if err != nil {
		a.log.Error("gossip tags", "err", err)
		return map[string]string{}
	}
	return m
}

// markTagsDirty asks the tags loop to republish; it never blocks.
func (a *Agent) markTagsDirty() {
	select {
	case a.tagsDirty <- struct{}{}:
	default: // a refresh is already pending; it will see this change too
	}
}

// tagsLoop publishes the tags when they change. serf's SetTags waits (up to
// its broadcast timeout, 5 s) for the update to go out, so it must not run
// in the scheduler's change callback; here changes also coalesce.
func (a *Agent) tagsLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.tagsDirty:
		case <-t.C:
		}
		a.refreshTags()
	}
}

// refreshTags publishes the tags if they changed (serf gossips every
// change, so unchanged tags are not re-sent).
func (a *Agent) refreshTags() {
	if a.mesh == nil {
		return
	}
	t := a.tags()
	a.tagsMu.Lock()
	defer a.tagsMu.Unlock()
	if maps.Equal(t, a.lastTags) {
		return
	}
	if err := a.mesh.SetTags(t); err != nil {
		a.log.Error("gossip tags not updated", "err", err)
		return
	}
	a.lastTags = t
}
