package clusterchecks

import (
	"testing"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

func TestReachabilityCheck(t *testing.T) {
	inventory := inv(cluster.LayoutDistributed, "a.x=10.0.0.1:core", "b.x=10.0.0.2:core-peer", "c.x=10.0.0.3:core-peer")
	refused := Edge{From: "a.x", To: "b.x", Port: cluster.PortRaft, Reason: "connection refused"}
	tests := []struct {
		name  string
		reach map[string][]Edge
		want  expect
	}{
		{"all open", map[string][]Edge{"a.x": {}, "b.x": {}, "c.x": {}}, expect{status: checks.OK, msg: []string{"3 nodes"}}},
		{"one edge", map[string][]Edge{"a.x": {refused}, "b.x": {}, "c.x": {}}, expect{
			status: checks.Crit, msg: []string{"a.x -> b.x"},
			details: []string{"a.x -> b.x 7209/tcp (KUMA Core Raft peers / parent-child Core): connection refused"},
			remedy:  []string{"On b.x:", "--add-port=7209/tcp", "ss -ltnup"}}},
		{"grouped by pair", map[string][]Edge{
			"a.x": {refused, {To: "b.x", Port: cluster.PortInternal, Reason: "i/o timeout"}},
			"c.x": {{From: "c.x", To: "b.x", Port: cluster.PortRaft, Reason: "i/o timeout"}},
			"b.x": {}}, expect{
			status: checks.Crit, msg: []string{"3 failing edges between 2 node pairs", "a.x -> b.x", "c.x -> b.x"},
			details: []string{"a.x -> b.x 7210/tcp (KUMA Core internal API (services fetch configuration)): i/o timeout",
				"c.x -> b.x 7209/tcp"},
			remedy: []string{"--add-port=7209/tcp --add-port=7210/tcp"}}},
		// Refused only: the paths are open, the services absent (their
		// own ports checks own that): a warning, not a firewall fault.
		{"refused only", map[string][]Edge{"a.x": {{To: "b.x", Port: cluster.PortRaft, Reason: "connection refused", Refused: true}}, "b.x": {}, "c.x": {}}, expect{
			status: checks.Warn, msg: []string{"a.x -> b.x", "all refused: the paths are open"}}},
		{"blocked and refused", map[string][]Edge{
			"a.x": {{To: "b.x", Port: cluster.PortRaft, Reason: "connection refused", Refused: true}, {To: "c.x", Port: cluster.PortRaft, Reason: "i/o timeout"}},
			"b.x": {}, "c.x": {}}, expect{
			status: checks.Crit, msg: []string{"(1 blocked, 1 refused)"}}},
		{"silent node unknown", map[string][]Edge{"a.x": {}, "b.x": {}}, expect{
			status: checks.OK, details: []string{"c.x: unknown (did not answer the reachability query"}}},
		{"nobody answered", nil, expect{status: checks.Unknown, msg: []string{"no node answered"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.check(t, ReachabilityCheck(View{Inventory: inventory, Members: alive("a.x", "b.x", "c.x"), Reach: tt.reach}))
		})
	}
}

func TestReachabilityDetailsOrder(t *testing.T) {
	r := ReachabilityCheck(View{Reach: map[string][]Edge{
		"b": {{From: "b", To: "a", Port: cluster.PortRaft, Reason: "x"}},
		"a": {{From: "a", To: "c", Port: cluster.PortREST, Reason: "y"}, {From: "a", To: "c", Port: cluster.PortRaft, Reason: "z"}},
	}})
	want := []string{"a -> c 7209/tcp", "a -> c 7223/tcp", "b -> a 7209/tcp"}
	if len(r.Details) != len(want) {
		t.Fatalf("details %q", r.Details)
	}
	for i, w := range want {
		if len(r.Details[i]) < len(w) || r.Details[i][:len(w)] != w {
			t.Errorf("detail %d = %q, want prefix %q", i, r.Details[i], w)
		}
	}
}

// The matrix travels as data: the failing edges and, per answering node,
// how many it saw (absent: it did not answer), so the status page draws it
// without reading a message.
func TestReachabilityEdgesAndValues(t *testing.T) {
	inventory := inv(cluster.LayoutDistributed, "a.x=:core", "b.x=:core-peer", "c.x=:core-peer")
	v := View{Inventory: inventory, Members: alive("a.x", "b.x", "c.x"), Reach: map[string][]Edge{
		"a.x": {{To: "b.x", Port: cluster.PortRaft, Reason: "connection refused"}, {To: "b.x", Port: cluster.PortInternal, Reason: "i/o timeout"}},
		"b.x": {},
	}}
	var got NamedResult
	for _, r := range All(v) {
		if r.Name == "cluster-reachability" {
			got = r
		}
	}
	if len(got.Edges) != 2 || got.Edges[0].From != "a.x" || got.Edges[0].To != "b.x" || got.Edges[0].Port.Number != 7209 || got.Edges[1].Port.Number != 7210 {
		t.Errorf("edges %+v", got.Edges)
	}
	if got.Values["a.x"] != 2 || got.Values["b.x"] != 0 || len(got.Values) != 2 {
		t.Errorf("values %v (want a.x 2, b.x 0, c.x absent: it did not answer)", got.Values)
	}
	v.Reach["a.x"] = []Edge{}
	for _, r := range All(v) {
		if r.Name == "cluster-reachability" && (len(r.Edges) != 0 || r.Values["a.x"] != 0 || len(r.Values) != 2) {
			t.Errorf("healthy: edges %+v values %v", r.Edges, r.Values)
		}
	}
}
