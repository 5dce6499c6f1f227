package clusterchecks

import (
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

func TestMembersCheck(t *testing.T) {
	inventory := inv(cluster.LayoutDistributed, "a.x=10.0.0.1:core", "b.x=10.0.0.2:core-peer", "c.x=10.0.0.3:core-peer")
	failedAt := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	failed := func(ms []Member, name string) []Member {
		for i := range ms {
			if ms[i].Name == name {
				ms[i].Status, ms[i].Since = StatusFailed, failedAt
			}
		}
		return ms
	}
	tests := []struct {
		name    string
		inv     *cluster.Cluster
		members []Member
		want    expect
	}{
		{"all alive", inventory, alive("a.x", "b.x", "c.x"), expect{status: checks.OK, msg: []string{"3 members alive"}}},
		{"failed with since", inventory, failed(alive("a.x", "b.x", "c.x"), "b.x"), expect{
			status: checks.Crit, msg: []string{"failed: b.x since 2025-03-04T05:06:07Z"}, remedy: []string{"b.x", "systemctl status kuma-agent"}}},
		{"everyone else failed", inventory, failed(failed(alive("a.x", "b.x", "c.x"), "b.x"), "c.x"), expect{
			status: checks.Crit, msg: []string{"b.x", "c.x"}}},
		{"never seen", inventory, alive("a.x", "b.x"), expect{
			status: checks.Warn, msg: []string{"never seen by the mesh: c.x"},
			remedy: []string{"On c.x", "systemctl enable --now kuma-agent", "7946", "gossip.keyring"}}},
		{"stranger", inventory, alive("a.x", "b.x", "c.x", "z.x"), expect{
			status: checks.Warn, msg: []string{"not in the inventory: z.x"}, remedy: []string{"Add z.x to the inventory"}}},
		{"case only", inventory, alive("a.x", "B.x", "c.x"), expect{
			status: checks.Warn, msg: []string{"B.x"}, notMsg: []string{"never seen"}, details: []string{"the inventory spells it b.x"}}},
		{"left is a detail", inventory, withStatus(alive("a.x", "b.x", "c.x"), "c.x", StatusLeft), expect{
			status: checks.OK, details: []string{"c.x: left the mesh"}}},
		{"no inventory", nil, failed(alive("a", "b"), "b"), expect{status: checks.Crit, msg: []string{"failed: b"}}},
		{"no inventory ok", nil, alive("a"), expect{status: checks.OK, msg: []string{"no inventory"}}},
		{"no members", inventory, nil, expect{status: checks.Unknown}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.check(t, MembersCheck(View{Inventory: tt.inv, Members: tt.members}))
		})
	}
}

func TestAll(t *testing.T) {
	want := []string{"cluster-members", "cluster-machine-id", "cluster-clock", "cluster-hosts", "cluster-reachability", "cluster-quorum"}
	// A failed member must show in both the members and the quorum results.
	inventory := inv(cluster.LayoutDistributed, "a.x=10.0.0.1:core", "b.x=10.0.0.2:core-peer", "c.x=10.0.0.3:core-peer")
	v := View{Inventory: inventory, Self: "a.x", Members: withStatus(withStatus(alive("a.x", "b.x", "c.x"), "b.x", StatusFailed), "c.x", StatusFailed)}
	got := All(v)
	if len(got) != len(want) {
		t.Fatalf("%d results", len(got))
	}
	for i, r := range got {
		if r.Name != want[i] {
			t.Errorf("result %d is %s, want %s", i, r.Name, want[i])
		}
	}
	if got[0].Result.Status != checks.Crit || got[5].Result.Status != checks.Crit {
		t.Errorf("members %s, quorum %s; want crit both", got[0].Result.Status, got[5].Result.Status)
	}
}
