package clusterchecks

import (
	"slices"
	"testing"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/etcd"
)

// withEtcd sets the named members' gossiped etcd summary (etcd.Summary's
// tag form; "" leaves none).
func withEtcd(t *testing.T, ms []Member, tags map[string]string) []Member {
	t.Helper()
	for i := range ms {
		v, ok := tags[ms[i].Name]
		if !ok {
			continue
		}
		s, err := etcd.ParseSummary(v)
		if err != nil {
			t.Fatal(err)
		}
		ms[i].Tags.Etcd = &s
	}
	return ms
}

func TestEtcdFromEtcd(t *testing.T) {
	k0s := inv(cluster.LayoutK0s, "cp1.x=10.0.1.1:k0s-controller", "cp2.x=10.0.1.2:k0s-controller", "cp3.x=10.0.1.3:k0s-controller",
		"w1.x=10.0.1.5:core,k0s-worker")
	all := func() []Member { return alive("cp1.x", "cp2.x", "cp3.x", "w1.x") }
	healthy := map[string]string{"cp1.x": "3/3,a,5,0,0", "cp2.x": "3/3,a,5,0,0", "cp3.x": "3/3,a,5,0,0"}
	tests := []struct {
		name          string
		members       []Member
		quorum, etcdc expect
		nodes         []string
	}{
		{"healthy", withEtcd(t, all(), healthy),
			expect{status: checks.OK, msg: []string{"3 etcd members, 3 healthy, quorum 2, margin 1"}},
			expect{status: checks.OK, msg: []string{"etcd healthy: 3 of 3 members, quorum margin 1"}}, nil},
		// The case: a dedicated controller runs no kubelet (its
		// ports check fails on 10250); etcd says all is well.
		{"ports check fails, etcd healthy", withEtcd(t, failingPorts(all(), "cp3.x"), healthy),
			expect{status: checks.OK, msg: []string{"3 healthy"}, details: []string{"per etcd itself"}},
			expect{status: checks.OK}, nil},
		// A stopped agent on a healthy controller: its etcd still counts.
		{"agent stopped, etcd healthy", withEtcd(t, withStatus(all(), "cp3.x", StatusFailed), healthy),
			expect{status: checks.OK, msg: []string{"3 healthy, quorum 2, margin 1"}},
			expect{status: checks.OK, details: []string{"cp3.x: no kuma-agent alive"}}, nil},
		{"member killed", withEtcd(t, all(), map[string]string{"cp1.x": "2/3,a,5,0,0", "cp2.x": "2/3,a,5,0,0", "cp3.x": "!"}),
			expect{status: checks.Warn, msg: []string{"2 healthy, quorum 2, margin 0"}, details: []string{"cp3.x unhealthy: its etcd does not answer"}},
			expect{status: checks.Warn, msg: []string{"etcd member unhealthy: 2 of 3 members healthy, quorum margin 0"}}, []string{"cp3.x"}},
		// etcd counts a member down while every agent is alive and answers.
		{"member down, all agents alive", withEtcd(t, all(), map[string]string{"cp1.x": "2/3,a,5,0,0", "cp2.x": "2/3,a,5,0,0", "cp3.x": "2/3,a,5,0,0"}),
			expect{status: checks.Warn, msg: []string{"margin 0"}, remedy: []string{"the member etcd reports down"}},
			expect{status: checks.Warn, msg: []string{"etcd member unhealthy"}}, nil},
		{"two hosts dead", withEtcd(t, withStatus(withStatus(all(), "cp2.x", StatusFailed), "cp3.x", StatusFailed), map[string]string{"cp1.x": "1/3,0,5,0,0"}),
			expect{status: checks.Crit, msg: []string{"QUORUM LOST"}},
			expect{status: checks.Crit, msg: []string{"etcd quorum lost: 1 of 3", "no leader"}, remedy: []string{"`k0s etcd member-list`"}}, []string{"cp2.x", "cp3.x"}},
		{"no etcd answers", withEtcd(t, all(), map[string]string{"cp1.x": "!", "cp2.x": "!", "cp3.x": "!"}),
			expect{status: checks.Crit, msg: []string{"QUORUM LOST"}},
			expect{status: checks.Crit, msg: []string{"no controller's etcd answers"}}, []string{"cp1.x", "cp2.x", "cp3.x"}},
		{"leftover member", withEtcd(t, all(), map[string]string{"cp1.x": "4/4,a,5,1,0", "cp2.x": "4/4,a,5,1,0", "cp3.x": "4/4,a,5,1,0"}),
			expect{status: checks.Warn, msg: []string{"4 etcd members", "even"}},
			expect{status: checks.Warn, msg: []string{"etcd has members the inventory does not"}}, []string{"cp1.x", "cp2.x", "cp3.x"}},
		{"database full", withEtcd(t, all(), map[string]string{"cp1.x": "3/3,a,96,0,0", "cp2.x": "3/3,a,50,0,0"}),
			expect{status: checks.OK},
			expect{status: checks.Crit, msg: []string{"etcd database at 95% of its quota or more (cp1.x)"}}, []string{"cp1.x"}},
		{"leaders disagree", withEtcd(t, all(), map[string]string{"cp1.x": "3/3,a,5,0,0", "cp2.x": "3/3,b,5,0,0"}),
			expect{status: checks.OK},
			expect{status: checks.Warn, msg: []string{"different etcd leaders: a by cp1.x; b by cp2.x"}}, nil},
		{"no reports (older agents)", all(),
			expect{status: checks.OK, msg: []string{"3 healthy"}},
			expect{status: checks.Unknown, msg: []string{"no controller reports etcd's view"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := View{Inventory: k0s, Members: placed(k0s, tt.members)}
			tt.quorum.check(t, QuorumCheck(v))
			var f finding
			tt.etcdc.check(t, etcdCluster(v, &f))
			if got := sortedSet(f.nodes); !slices.Equal(got, tt.nodes) {
				t.Errorf("nodes %q, want %q", got, tt.nodes)
			}
		})
	}
}

func TestEtcdTagRoundTrip(t *testing.T) {
	s := etcd.Summary{Answered: true, Members: 3, Healthy: 2, Leader: 1<<64 - 1, DBPercent: 12}
	m, err := EncodeTags(Tags{Roles: cluster.Roles{cluster.RoleController}, Etcd: &s})
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeTags(m)
	if err != nil || got.Etcd == nil || *got.Etcd != s {
		t.Fatalf("decoded %+v %v", got.Etcd, err)
	}
	// A newer agent's format is "not said", never an error for the node's other tags.
	m[TagEtcd] = "v2:whatever"
	if got, err := DecodeTags(m); err != nil || got.Etcd != nil || !got.Roles.Has(cluster.RoleController) {
		t.Fatalf("unknown etcd form: %+v %v", got, err)
	}
}
