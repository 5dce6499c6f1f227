package clusterchecks

import (
	"slices"
	"strings"
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
			status: checks.Warn, msg: []string{"not in the inventory (ignored for every decision): z.x"}, remedy: []string{"Add z.x to the inventory"},
			details: []string{"member z.x is not in the inventory; ignored for every decision (alive in the mesh)"}}},
		{"failed stranger is no failed node", inventory, failed(alive("a.x", "b.x", "c.x", "z.x"), "z.x"), expect{
			status: checks.Warn, msg: []string{"not in the inventory (ignored for every decision): z.x"}, notMsg: []string{"failed"},
			details: []string{"member z.x is not in the inventory; ignored for every decision (failed in the mesh)"}}},
		{"elsewhere", inventory, append(alive("a.x", "c.x"), Member{Name: "b.x", Addr: "10.9.9.9", Status: StatusAlive}), expect{
			status: checks.Warn, msg: []string{"not at their inventory address (ignored for every decision): b.x"}, notMsg: []string{"never seen"},
			remedy:  []string{"mesh.advertise_addr", "rotate the gossip key"},
			details: []string{"member b.x advertises 10.9.9.9, the inventory has 10.0.0.2 for it; ignored for every decision (alive in the mesh)"}}},
		{"escaped", inventory, append(alive("a.x", "b.x", "c.x"), Member{Name: "x\x1b[31mRED\nc9.lab.lan  127.0.201.9  alive  core  ok", Status: StatusAlive}), expect{
			status: checks.Warn, msg: []string{`not in the inventory (ignored for every decision): x\x1b[31mRED\nc9.lab.lan`},
			details: []string{`member x\x1b[31mRED\nc9.lab.lan  127.0.201.9  alive  core  ok is not in the inventory`}}},
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
			tt.want.check(t, MembersCheck(View{Inventory: tt.inv, Members: placed(tt.inv, tt.members)}))
		})
	}
}

func TestAll(t *testing.T) {
	want := []string{"cluster-members", "cluster-majority", "cluster-machine-id", "cluster-clock", "cluster-hosts", "cluster-reachability", "cluster-quorum", "cluster-raft", "cluster-certs"}
	// A failed member must show in both the members and the quorum results.
	inventory := inv(cluster.LayoutDistributed, "a.x=10.0.0.1:core", "b.x=10.0.0.2:core-peer", "c.x=10.0.0.3:core-peer")
	v := View{Inventory: inventory, Self: "a.x", Members: placed(inventory, withStatus(withStatus(alive("a.x", "b.x", "c.x"), "b.x", StatusFailed), "c.x", StatusFailed))}
	got := All(v)
	if len(got) != len(want) {
		t.Fatalf("%d results", len(got))
	}
	for i, r := range got {
		if r.Name != want[i] {
			t.Errorf("result %d is %s, want %s", i, r.Name, want[i])
		}
	}
	if got[0].Result.Status != checks.Crit || got[6].Result.Status != checks.Crit || got[1].Result.Status != checks.Crit {
		t.Errorf("members %s, majority %s, quorum %s; want crit all three (1 of 3 alive)", got[0].Result.Status, got[1].Result.Status, got[6].Result.Status)
	}
}

// A rogue member (not in the inventory, claiming every role and Raft
// leadership) and an impostor (an inventory name at another address) are
// reported by the members check and change no other check: the quorum
// check counts the inventory's voters, at the inventory's addresses.
func TestAllBelievesOnlyTheInventory(t *testing.T) {
	inventory := inv(cluster.LayoutDistributed, "a.x=10.0.0.1:core", "b.x=10.0.0.2:core-peer", "c.x=10.0.0.3:core-peer")
	ms := placed(inventory, withStatus(alive("a.x", "b.x", "c.x"), "c.x", StatusFailed))
	rogue := Member{Name: "rogue-leader.attacker.example", Addr: "10.6.6.6", Status: StatusAlive,
		Tags: Tags{Roles: cluster.Roles{cluster.RoleCore, cluster.RoleCorePeer}, Raft: "leader", MachineIDHash: MachineIDHash("id-a.x")}}
	impostor := Member{Name: "c.x", Addr: "10.6.6.7", Status: StatusAlive, Tags: Tags{MachineIDHash: MachineIDHash("id-a.x")}}
	ms[2] = impostor
	v := View{Inventory: inventory, Self: "a.x", Members: append(ms, rogue),
		Times: []TimeSample{{Node: "a.x"}, {Node: "b.x"}, {Node: rogue.Name, Offset: time.Hour}},
		Reach: map[string][]Edge{"a.x": {}, rogue.Name: {{From: "b.x", To: "a.x", Port: cluster.Port{Number: 7209}}}}}
	got := map[string]checks.Result{}
	for _, r := range All(v) {
		got[r.Name] = r.Result
	}
	expect{status: checks.Warn, msg: []string{"not in the inventory (ignored for every decision): rogue-leader.attacker.example",
		"not at their inventory address (ignored for every decision): c.x"}}.check(t, got["cluster-members"])
	// c.x's agent is not believed to be there: 2 of 3 voters healthy.
	expect{status: checks.Warn, msg: []string{"3 Core services, 2 healthy"}, details: []string{"raft: c.x unhealthy: no kuma-agent in the mesh"}}.check(t, got["cluster-quorum"])
	// The rogue's clock, machine-id and probes are not evidence.
	if r := got["cluster-clock"]; r.Status != checks.OK {
		t.Errorf("clock judged the rogue's sample: %s %s", r.Status, r.Message)
	}
	if r := got["cluster-machine-id"]; r.Status != checks.OK {
		t.Errorf("machine-id judged the rogue's: %s %s", r.Status, r.Message)
	}
	if r := got["cluster-reachability"]; r.Status != checks.OK {
		t.Errorf("reachability judged the rogue's edges: %s %s", r.Status, r.Message)
	}
}

func TestBelieved(t *testing.T) {
	inventory := inv(cluster.LayoutDistributed, "a.x=10.0.0.1:core", "b.x=:core-peer")
	v := View{Inventory: inventory, Members: []Member{
		{Name: "a.x", Addr: "10.0.0.1", Tags: Tags{Roles: cluster.Roles{cluster.RoleStorage}}},
		{Name: "b.x", Addr: "192.0.2.1"}, // no IP in the inventory: the name is all there is
		{Name: "z.x", Addr: "10.0.0.9"},
	}, Hosts: map[string]HostsView{"a.x": {}, "z.x": {}}, Reach: map[string][]Edge{"b.x": {{From: "a.x", To: "z.x"}}, "z.x": {}}}
	bv, ignored := Believed(v)
	if len(bv.Members) != 2 || len(ignored) != 1 || ignored[0].Member.Name != "z.x" || !strings.Contains(ignored[0].Reason, "not in the inventory") {
		t.Fatalf("believed %+v, ignored %+v", bv.Members, ignored)
	}
	if !slices.Equal(bv.Members[0].Tags.Roles, cluster.Roles{cluster.RoleCore}) {
		t.Errorf("roles %v: want the inventory's", bv.Members[0].Tags.Roles)
	}
	if _, ok := bv.Hosts["z.x"]; ok || len(bv.Hosts) != 1 {
		t.Errorf("hosts answers %v", bv.Hosts)
	}
	if _, ok := bv.Reach["z.x"]; ok || bv.Reach["b.x"][0].From != "b.x" {
		t.Errorf("reach answers %v: want b.x's own probes only", bv.Reach)
	}
	if nv, ig := Believed(View{Members: v.Members}); len(nv.Members) != 3 || ig != nil {
		t.Errorf("without an inventory: %d believed, %v ignored", len(nv.Members), ig)
	}
}

// placed gives each member its inventory address, as a member gossiping
// from its own host has.
func placed(c *cluster.Cluster, ms []Member) []Member {
	if c == nil {
		return ms
	}
	for i := range ms {
		if h := c.Host(ms[i].Name); h != nil && ms[i].Addr == "" {
			ms[i].Addr = h.Address
		}
	}
	return ms
}
