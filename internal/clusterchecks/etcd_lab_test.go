package clusterchecks

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/etcd"
	"github.com/kuma-agent/kuma-agent/internal/testlab/etcdlab"
)

// Three dedicated k0s controllers on a real etcd, each agent's etcd check
// reading its own member. A killed member is etcd's finding (the quorum
// check and cluster-etcd name etcd's view), never "its ports check
// fails"; and the controllers' failing ports checks (no kubelet on 10250)
// do not make a healthy etcd look down.
func TestLabEtcdFindingNotPortsFinding(t *testing.T) {
	names := []string{"cp1.x", "cp2.x", "cp3.x"}
	lab := etcdlab.Start(t, etcdlab.Options{Members: 3, Names: names})
	files := etcd.TLSFiles(lab.LayoutPKI(etcdlab.K0s))
	k0s := inv(cluster.LayoutK0s, "cp1.x=127.0.210.1:k0s-controller", "cp2.x=127.0.210.2:k0s-controller", "cp3.x=127.0.210.3:k0s-controller")
	// view runs each controller's etcd check (as its agent does) and
	// builds the mesh view from the summaries they gossip; every
	// controller's ports check fails (the 10250 on a controller
	// without kubelet).
	view := func(ctx context.Context) View {
		ms := failingPorts(failingPorts(failingPorts(alive(names...), "cp1.x"), "cp2.x"), "cp3.x")
		for i, m := range lab.Members {
			c := &checks.Etcd{Node: names[i], Endpoint: m.ClientURL, Inventory: names, QuotaBytes: 2 << 30, DBWarn: 80, DBCrit: 95, RaftLagWarn: 1000,
				Survey: func(ctx context.Context) (etcd.Survey, error) {
					cl, err := etcd.NewClient(files, time.Second)
					if err != nil {
						return etcd.Survey{}, err
					}
					defer cl.HTTP.CloseIdleConnections()
					return cl.Survey(ctx, m.ClientURL, nil)
				},
				Publish: func(s etcd.Summary) { ms[i].Tags.Etcd = &s }}
			c.Run(ctx)
		}
		return View{Inventory: k0s, Members: placed(k0s, ms)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	v := view(ctx)
	expect{status: checks.OK, msg: []string{"3 etcd members, 3 healthy"}, details: []string{"per etcd itself"}}.check(t, QuorumCheck(v))
	var f finding
	expect{status: checks.OK, msg: []string{"etcd healthy: 3 of 3"}}.check(t, etcdCluster(v, &f))

	lab.Kill(lab.Members[2])
	// An election may follow the kill (the leader may be the one killed):
	// wait until a survivor knows a leader again.
	for v = view(ctx); ctx.Err() == nil; v = view(ctx) {
		if r := etcdCluster(v, &finding{}); !strings.Contains(r.Message, "no leader") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	q := QuorumCheck(v)
	expect{status: checks.Warn, msg: []string{"3 etcd members, 2 healthy, quorum 2, margin 0"},
		details: []string{"per etcd itself", "cp3.x unhealthy: its etcd does not answer its agent"}}.check(t, q)
	if strings.Contains(strings.Join(q.Details, "\n"), "ports check") {
		t.Errorf("the quorum check blames the ports check: %q", q.Details)
	}
	f = finding{}
	expect{status: checks.Warn, msg: []string{"etcd member unhealthy: 2 of 3 members healthy, quorum margin 0"}}.check(t, etcdCluster(v, &f))
	if got := sortedSet(f.nodes); strings.Join(got, ",") != "cp3.x" {
		t.Errorf("nodes %q, want cp3.x", got)
	}
}
