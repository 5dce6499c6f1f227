package clusterchecks

import (
	"slices"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

func TestMajorityCheck(t *testing.T) {
	five := inv(cluster.LayoutDistributed, "a.x=10.0.0.1:core", "b.x=10.0.0.2:core-peer", "c.x=10.0.0.3:core-peer", "d.x=10.0.0.4:collector", "e.x=10.0.0.5:storage")
	tests := []struct {
		name    string
		inv     *cluster.Cluster
		members []Member
		want    expect
		nodes   []string
	}{
		{"all alive", five, alive("a.x", "b.x", "c.x", "d.x", "e.x"), expect{status: checks.OK, msg: []string{"sees 5 of 5"}}, nil},
		{"3 of 5 is a majority", five, withStatus(withStatus(alive("a.x", "b.x", "c.x", "d.x", "e.x"), "d.x", StatusFailed), "e.x", StatusFailed),
			expect{status: checks.OK, msg: []string{"sees 3 of 5"}}, nil},
		{"2 of 5 is a minority", five, withStatus(withStatus(withStatus(alive("a.x", "b.x", "c.x", "d.x", "e.x"), "c.x", StatusFailed), "d.x", StatusFailed), "e.x", StatusLeft),
			expect{status: checks.Crit, msg: []string{"minority: sees 2 of 5"}, remedy: []string{"c.x, d.x, e.x"}, details: []string{"e.x: not alive"}},
			[]string{"c.x", "d.x", "e.x"}},
		// Hosts the mesh never saw count against the majority too.
		{"unseen hosts", five, alive("a.x", "b.x"), expect{status: checks.Crit, msg: []string{"2 of 5"}}, []string{"c.x", "d.x", "e.x"}},
		{"half is no majority", inv("", "a.x=10.0.0.1:core", "b.x=10.0.0.2:collector"), withStatus(alive("a.x", "b.x"), "b.x", StatusFailed),
			expect{status: checks.Crit, msg: []string{"1 of 2"}}, []string{"b.x"}},
		{"no inventory: members that have not left", nil, withStatus(withStatus(alive("a.x", "b.x", "c.x"), "b.x", StatusLeft), "c.x", StatusFailed),
			expect{status: checks.Crit, msg: []string{"1 of 2"}}, []string{"c.x"}},
		{"nothing known", nil, nil, expect{status: checks.Unknown}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := View{Inventory: tt.inv, Self: "a.x", Members: placed(tt.inv, tt.members)}
			f := findingOf(majority)(v)
			tt.want.check(t, f.Result)
			if !slices.Equal(f.nodes, tt.nodes) {
				t.Errorf("nodes %v, want %v", f.nodes, tt.nodes)
			}
		})
	}
}

// The structured parts of All's results: the nodes each finding is about
// and the numbers behind it, as metrics and events read them.
func TestAllNodesAndValues(t *testing.T) {
	c := inv(cluster.LayoutDistributed, "a.x=10.0.0.1:core", "b.x=10.0.0.2:core-peer", "c.x=10.0.0.3:core-peer")
	ms := placed(c, withStatus(alive("a.x", "b.x", "c.x"), "c.x", StatusFailed))
	ms[1].Tags.MachineIDHash = ms[0].Tags.MachineIDHash // a clone
	a := addr("10.0.0.1")
	v := View{Inventory: c, Self: "a.x", Members: ms,
		Times: []TimeSample{{Node: "a.x"}, {Node: "b.x", Offset: 2 * time.Second}},
		Hosts: map[string]HostsView{
			"a.x": {"a.x": {a}, "b.x": {addr("10.0.0.2")}, "c.x": {addr("10.0.0.3")}},
			"b.x": {"a.x": {addr("10.9.9.9")}, "b.x": {addr("10.0.0.2")}, "c.x": {addr("10.0.0.3")}},
		},
		Reach: map[string][]Edge{"a.x": {{To: "b.x", Port: cluster.Port{Number: 7209, Proto: cluster.TCP}}}, "b.x": {}}}
	got := map[string]NamedResult{}
	for _, r := range All(v) {
		got[r.Name] = r
	}
	want := map[string][]string{
		"cluster-members":      {"c.x"},
		MajorityCheckName:      nil,
		"cluster-machine-id":   {"a.x", "b.x"},
		ClockCheckName:         nil, // 2 samples: the median lies between them, both are 1 s off
		"cluster-hosts":        {"b.x"},
		"cluster-reachability": {"a.x", "b.x"},
		QuorumCheckName:        {"c.x"},
	}
	for name, nodes := range want {
		if name == ClockCheckName {
			continue
		}
		if !slices.Equal(got[name].Nodes, nodes) {
			t.Errorf("%s: nodes %v, want %v (%s)", name, got[name].Nodes, nodes, got[name].Result.Message)
		}
	}
	if clk := got[ClockCheckName]; clk.Values["a.x"] != -1 || clk.Values["b.x"] != 1 || !slices.Equal(clk.Nodes, []string{"a.x", "b.x"}) {
		t.Errorf("clock: values %v nodes %v, want a.x -1, b.x +1 (s from the median), both named", clk.Values, clk.Nodes)
	}
	if q := got[QuorumCheckName]; q.Values["raft"] != 0 || len(q.Values) != 1 {
		t.Errorf("quorum values %v, want raft margin 0 (2 of 3 healthy)", q.Values)
	}
	if m := got[MajorityCheckName]; m.Values["alive"] != 2 || m.Values["nodes"] != 3 {
		t.Errorf("majority values %v, want alive 2 of nodes 3", m.Values)
	}
}
