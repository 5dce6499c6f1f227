package agent

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/component"
	"github.com/kuma-agent/kuma-agent/internal/etcd"
)

// tags is what this node gossips: roles, version, a health summary, a hash
// of its machine-id (never the id), the check generation and its life. An error
// means they do not encode (too large even with the failing list cut, a
// check name the format cannot carry).
func (a *Agent) tags() (map[string]string, error) {
	t := clusterchecks.Tags{Roles: a.node.Roles, Version: a.opts.Version, Generation: a.sched.Generation(),
		MachineIDHash: a.machineIDHash, Units: a.unitsTag(), Etcd: a.etcdSummary.Load(), Life: a.life}
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
		return nil, fmt.Errorf("gossip tags: %w", err)
	}
	return m, nil
}

// publishEtcd keeps the etcd check's newest summary for the tags and asks
// for a republish when it changed (the check's callback: never blocks).
func (a *Agent) publishEtcd(s etcd.Summary) {
	if old := a.etcdSummary.Swap(&s); old == nil || *old != s {
		a.markTagsDirty()
	}
}

// initialTags are the tags the mesh starts with. With nothing published
// before, tags that do not encode start as none (the others read the
// health as unknown) and the tags loop retries.
func (a *Agent) initialTags() map[string]string {
	a.tagsMu.Lock()
	defer a.tagsMu.Unlock()
	t, err := a.tags()
	a.setTagsErr(err)
	if err != nil {
		t = map[string]string{}
	}
	a.lastTags = t
	return t
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
// in the scheduler's change callback; here changes also coalesce. It
// refreshes (and beats hb) at least every hb.Every(), at most once a
// second apart from changes.
func (a *Agent) tagsLoop(hb *component.Heartbeat) func(context.Context) {
	return func(ctx context.Context) {
		t := time.NewTicker(hb.Every())
		defer t.Stop()
		for {
			hb.Beat()
			select {
			case <-ctx.Done():
				return
			case <-a.tagsDirty:
			case <-t.C:
			}
			a.refreshTags()
		}
	}
}

// refreshTags publishes the tags if they changed (serf gossips every
// change, so unchanged tags are not re-sent). Tags that cannot be encoded
// or sent leave the last good ones published: an empty set would erase
// this node's roles and health from every other node's view.
func (a *Agent) refreshTags() {
	if a.mesh == nil {
		return
	}
	a.tagsMu.Lock()
	defer a.tagsMu.Unlock()
	t, err := a.tags()
	switch {
	case err != nil:
	case maps.Equal(t, a.lastTags):
	default:
		if err = a.mesh.SetTags(t); err == nil {
			a.lastTags = t
		}
	}
	a.setTagsErr(err)
}

// setTagsErr records why the newest tags are not published (nil: they
// are), logging changes only (the loop retries every second) and showing
// it in kuma_agent_gossip_tags_stale. The caller holds tagsMu.
func (a *Agent) setTagsErr(err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if msg == a.tagsErr {
		return
	}
	switch {
	case msg != "":
		a.log.Error("gossip tags not updated: the last good ones stay published", "err", err)
		a.metrics.tagsStale.With().Set(1)
	default:
		a.log.Info("gossip tags published again")
		a.metrics.tagsStale.With().Set(0)
	}
	a.tagsErr = msg
}
