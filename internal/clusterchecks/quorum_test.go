package clusterchecks

import (
	"testing"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

func failingPorts(ms []Member, name string) []Member {
	for i := range ms {
		if ms[i].Name == name {
			ms[i].Tags.Health = Health{Worst: checks.Crit, Failing: []string{"ntp", PortsCheckName}}
		}
	}
	return ms
}

func withRoles(ms []Member, roles cluster.Roles, names ...string) []Member {
	for i := range ms {
		for _, n := range names {
			if ms[i].Name == n {
				ms[i].Tags.Roles = roles
			}
		}
	}
	return ms
}

func TestQuorumCheck(t *testing.T) {
	raft3 := inv(cluster.LayoutDistributed, "a.x=10.0.0.1:core", "b.x=10.0.0.2:core-peer", "c.x=10.0.0.3:core-peer", "s.x=10.0.0.4:storage")
	k0s := inv(cluster.LayoutK0s, "cp1.x=10.0.1.1:k0s-controller", "cp2.x=10.0.1.2:k0s-controller", "cp3.x=10.0.1.3:k0s-controller",
		"cp4.x=10.0.1.4:k0s-controller", "w1.x=10.0.1.5:core,k0s-worker", "lb.x=10.0.1.6:lb")
	tests := []struct {
		name    string
		inv     *cluster.Cluster
		members []Member
		want    expect
	}{
		{"raft healthy", raft3, alive("a.x", "b.x", "c.x", "s.x"), expect{
			status: checks.OK, msg: []string{"3 Core services, 3 healthy, quorum 2, margin 1"}, notMsg: []string{"etcd"},
			details: []string{"raft: 3 Core services", "a.x, b.x, c.x"}}},
		{"raft one failed", raft3, withStatus(alive("a.x", "b.x", "c.x"), "b.x", StatusFailed), expect{
			status: checks.Warn, msg: []string{"2 healthy, quorum 2, margin 0", "one more failure"},
			remedy: []string{"until b.x is back"}, details: []string{"raft: b.x unhealthy: agent failed"}}},
		{"raft ports failing", raft3, failingPorts(alive("a.x", "b.x", "c.x"), "c.x"), expect{
			status: checks.Warn, details: []string{"raft: c.x unhealthy: its ports check fails"}}},
		{"raft lost", raft3, withStatus(withStatus(alive("a.x", "b.x", "c.x"), "b.x", StatusFailed), "c.x", StatusLeft), expect{
			status: checks.Crit, msg: []string{"1 healthy, quorum 2, margin -1", "QUORUM LOST"},
			remedy: []string{"b.x, c.x", "raft/.reset"}, details: []string{"c.x unhealthy: agent left"}}},
		{"raft voter without agent", raft3, alive("a.x", "b.x"), expect{
			status: checks.Warn, details: []string{"raft: c.x unhealthy: no kuma-agent in the mesh"}}},
		{"everyone failed", raft3, withStatus(withStatus(withStatus(alive("a.x", "b.x", "c.x"), "a.x", StatusFailed), "b.x", StatusFailed), "c.x", StatusFailed), expect{
			status: checks.Crit, msg: []string{"0 healthy"}, remedy: []string{"a.x, b.x, c.x"}}},
		{"member name case", raft3, alive("A.x", "b.x", "c.x"), expect{status: checks.OK}},
		{"k0s: even etcd, no raft group", k0s, alive("cp1.x", "cp2.x", "cp3.x", "cp4.x", "w1.x", "lb.x"), expect{
			status: checks.Warn, msg: []string{"4 etcd members, 4 healthy, quorum 3, margin 1", "even"},
			notMsg: []string{"Core services"}, remedy: []string{"odd number of controllers"}}},
		{"single node", inv(cluster.LayoutSingle, "aio.x=10.0.0.1:core,collector,correlator,storage"), alive("aio.x"), expect{
			status: checks.Warn, msg: []string{"1 Core services, 1 healthy, quorum 1, margin 0"}, remedy: []string{"tolerate no failure"}}},
		{"no inventory, tags", nil, withStatus(withRoles(alive("a", "b", "c", "d"), cluster.Roles{cluster.RoleCorePeer}, "a", "b", "c"), "c", StatusFailed), expect{
			status: checks.Warn, msg: []string{"3 Core services, 2 healthy"}, details: []string{"raft: c unhealthy"}}},
		{"no inventory, k0s tags", nil, withRoles(withRoles(alive("cp1", "cp2", "cp3", "w1"), cluster.Roles{cluster.RoleController}, "cp1", "cp2", "cp3"),
			cluster.Roles{cluster.RoleCore, cluster.RoleWorker}, "w1"), expect{
			status: checks.OK, msg: []string{"3 etcd members, 3 healthy, quorum 2, margin 1"}, notMsg: []string{"Core services"}}},
		{"no inventory, no roles", nil, alive("a", "b"), expect{status: checks.Unknown}},
		{"no groups", inv(cluster.LayoutDistributed, "c.x=10.0.0.1:collector"), alive("c.x"), expect{status: checks.OK, msg: []string{"no quorum groups"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.check(t, QuorumCheck(View{Inventory: tt.inv, Members: tt.members}))
		})
	}
}
