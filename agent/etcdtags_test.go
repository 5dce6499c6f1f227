package agent

import (
	"context"
	"errors"
	"testing"

	"github.com/kuma-agent/kuma-agent/agent/schedule"
	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/etcd"
	"github.com/kuma-agent/kuma-agent/internal/plan"
)

// The etcd check's survey reaches this node's gossip tags (tag e) and a
// change asks for a republish.
func TestEtcdSummaryInTags(t *testing.T) {
	var surveyErr error
	check := &checks.Etcd{Node: "c1.x", Survey: func(context.Context) (etcd.Survey, error) {
		if surveyErr != nil {
			return etcd.Survey{}, surveyErr
		}
		return etcd.Survey{Health: etcd.Health{Health: "true"}, Leader: 7, Members: []etcd.MemberView{
			{Member: etcd.Member{ID: 7, Name: "c1.x"}, Self: true, Healthy: true, Status: &etcd.Status{DBSize: 10}}}}, nil
	}, QuotaBytes: 100, DBWarn: 80, DBCrit: 95, RaftLagWarn: 10}
	a := &Agent{
		opts: Options{Version: "test"}, log: (&logBuffer{}).Logger(),
		node:      plan.Node{Name: "c1.x", Roles: cluster.Roles{cluster.RoleController}},
		plan:      plan.Plan{Checks: []checks.Check{check}},
		tagsDirty: make(chan struct{}, 1),
	}
	a.sched = schedule.New(a.plan.Checks, schedule.Options{Logger: a.log})
	check.Publish = a.publishEtcd
	decoded := func() clusterchecks.Tags {
		t.Helper()
		m, err := a.tags()
		if err != nil {
			t.Fatal(err)
		}
		tags, err := clusterchecks.DecodeTags(m)
		if err != nil {
			t.Fatal(err)
		}
		return tags
	}
	if decoded().Etcd != nil {
		t.Fatal("an etcd summary before the check ran")
	}
	check.Run(context.Background())
	if got := decoded().Etcd; got == nil || *got != (etcd.Summary{Answered: true, Members: 1, Healthy: 1, Leader: 7, DBPercent: 10}) {
		t.Fatalf("tag e: %+v", got)
	}
	select {
	case <-a.tagsDirty:
	default:
		t.Fatal("a new summary did not ask for a republish")
	}
	surveyErr = errors.New("connection refused")
	check.Run(context.Background())
	if got := decoded().Etcd; got == nil || got.Answered {
		t.Fatalf("etcd down: tag e %+v, want not answered", got)
	}
}
