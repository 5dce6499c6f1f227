package clusterchecks

import (
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

func coreFacts(node, join string) []CoreFacts {
	return []CoreFacts{{Unit: "kuma-core-" + node + ".service", Active: true, RaftAddr: node + ":7209", Join: join}}
}

func withRaft(ms []Member, states map[string]string) []Member {
	for i := range ms {
		ms[i].Tags.Raft = states[ms[i].Name]
	}
	return ms
}

// Each cluster-wide Raft fault is caught; a healthy cluster is OK.
func TestRaftCheck(t *testing.T) {
	inv3 := inv(cluster.LayoutDistributed, "a.x=10.0.0.1:core", "b.x=10.0.0.2:core-peer", "c.x=10.0.0.3:core-peer")
	healthy := map[string][]CoreFacts{"a.x": coreFacts("a.x", ""), "b.x": coreFacts("b.x", "a.x:7209"), "c.x": coreFacts("c.x", "a.x:7209")}
	clone := func(m map[string][]CoreFacts) map[string][]CoreFacts {
		out := map[string][]CoreFacts{}
		for k, v := range m {
			out[k] = append([]CoreFacts(nil), v...)
		}
		return out
	}
	members := func(states map[string]string) []Member {
		return withRaft(placed(inv3, alive("a.x", "b.x", "c.x")), states)
	}
	oneLeader := map[string]string{"a.x": "leader", "b.x": "follower", "c.x": "follower"}
	for _, c := range []struct {
		name   string
		cores  map[string][]CoreFacts
		states map[string]string
		status checks.Status
		want   string
	}{
		{"healthy, one leader", healthy, oneLeader, checks.OK, "3 Raft Cores alive"},
		{"healthy, no state read", healthy, nil, checks.OK, "leader count not judged"},
		{"no leader", healthy, map[string]string{"a.x": "follower", "b.x": "follower", "c.x": "out"}, checks.Crit, "no leader among the 3 Cores"},
		{"two leaders", healthy, map[string]string{"a.x": "leader", "b.x": "leader"}, checks.Crit, "2 Cores say they lead: a.x, b.x"},
		{"duplicate raft addr", func() map[string][]CoreFacts {
			m := clone(healthy)
			m["c.x"][0].RaftAddr = "b.x:7209"
			return m
		}(), oneLeader, checks.Crit, "--raft.node.addr b.x:7209 is claimed by the Cores on b.x, c.x"},
		{"join to a stranger", func() map[string][]CoreFacts {
			m := clone(healthy)
			m["c.x"][0].Join = "old.x:7209"
			return m
		}(), oneLeader, checks.Warn, "--raft.join old.x:7209 is no Core any unit of the cluster runs at"},
		{"one Core down: even and short", func() map[string][]CoreFacts {
			m := clone(healthy)
			m["c.x"][0].Active = false
			return m
		}(), oneLeader, checks.Warn, "2 Raft Cores seen alive, the inventory lists 3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := RaftCheck(View{Inventory: inv3, Members: members(c.states), Cores: c.cores})
			all := r.Message + "\n" + strings.Join(r.Details, "\n")
			if r.Status != c.status || !strings.Contains(all, c.want) {
				t.Fatalf("status %s, want %s with %q\n%s", r.Status, c.status, c.want, all)
			}
		})
	}
	if r := RaftCheck(View{Inventory: inv(cluster.LayoutK0s, "a.x=10.0.0.1:controller")}); r.Status != checks.OK || !strings.Contains(r.Message, "no Raft Core layout") {
		t.Fatalf("k0s layout: %+v", r)
	}
}

func TestCapCoreFacts(t *testing.T) {
	var fs []CoreFacts
	for range 10 {
		fs = append(fs, CoreFacts{Unit: strings.Repeat("u", 1000), Argv: []string{"kuma", strings.Repeat("a", 2000)}})
	}
	fs[1].Argv = []string{"kuma", "core"}
	got, dropped := CapCoreFacts(fs)
	if len(got) != MaxCoreFacts || dropped != 10-MaxCoreFacts || len(got[0].Unit) != maxCoreFactText || len(fs[0].Unit) != 1000 {
		t.Fatalf("%d kept, %d dropped, unit %d bytes", len(got), dropped, len(got[0].Unit))
	}
	if got[0].Argv != nil || len(got[1].Argv) != 2 {
		t.Fatalf("argv caps: %q %q", got[0].Argv, got[1].Argv)
	}
}

// A stranger's Core facts are no evidence: not counted, not listed.
func TestRaftCheckBelievesOnlyTheInventory(t *testing.T) {
	inv3 := inv(cluster.LayoutDistributed, "a.x=10.0.0.1:core", "b.x=10.0.0.2:core-peer", "c.x=10.0.0.3:core-peer")
	ms := placed(inv3, alive("a.x", "b.x", "c.x"))
	ms = append(ms, Member{Name: "rogue.x", Addr: "10.9.9.9", Status: StatusAlive})
	cores := map[string][]CoreFacts{"a.x": coreFacts("a.x", ""), "b.x": coreFacts("b.x", "a.x:7209"), "c.x": coreFacts("c.x", "a.x:7209"),
		"rogue.x": coreFacts("a.x", "")}
	for _, r := range All(View{Inventory: inv3, Members: ms, Cores: cores}) {
		if r.Name == "cluster-raft" && (r.Result.Status != checks.OK || strings.Contains(strings.Join(r.Result.Details, "\n"), "rogue")) {
			t.Fatalf("cluster-raft with a rogue: %+v", r.Result)
		}
	}
}
