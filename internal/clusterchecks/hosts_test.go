package clusterchecks

import (
	"net/netip"
	"testing"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// hv builds a HostsView from name -> addresses ("" = not listed).
func hv(kv ...string) HostsView {
	v := HostsView{}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			v[kv[i]] = []netip.Addr{}
			continue
		}
		v[kv[i]] = append(v[kv[i]], addr(kv[i+1]))
	}
	return v
}

func TestHostsCheck(t *testing.T) {
	inventory := inv(cluster.LayoutDistributed, "a.x=10.0.0.1:core", "b.x=10.0.0.2:core-peer", "c.x=10.0.0.3:core-peer")
	good := hv("a.x", "10.0.0.1", "b.x", "10.0.0.2", "c.x", "10.0.0.3")
	tests := []struct {
		name  string
		inv   *cluster.Cluster
		hosts map[string]HostsView
		want  expect
	}{
		{"all agree", inventory, map[string]HostsView{"a.x": good, "b.x": good, "c.x": good}, expect{
			status: checks.OK, msg: []string{"3 names", "3 nodes"}}},
		{"one node maps differently", inventory, map[string]HostsView{"a.x": good, "b.x": good,
			"c.x": hv("a.x", "10.0.0.9", "b.x", "10.0.0.2", "c.x", "10.0.0.3")}, expect{
			status: checks.Crit, msg: []string{"a.x"}, notMsg: []string{"b.x", "c.x"},
			details: []string{"a.x: 10.0.0.1 on a.x, b.x; 10.0.0.9 on c.x (expected 10.0.0.1)"},
			remedy:  []string{"on c.x replace the line mapping a.x to 10.0.0.9 with `10.0.0.1 a.x`"}}},
		{"missing on one node", inventory, map[string]HostsView{"a.x": good, "b.x": good,
			"c.x": hv("a.x", "10.0.0.1", "b.x", "", "c.x", "10.0.0.3")}, expect{
			status: checks.Warn, msg: []string{"b.x"},
			details: []string{"b.x: 10.0.0.2 on a.x, b.x; not listed on c.x"},
			remedy:  []string{"on c.x add `10.0.0.2 b.x`"}}},
		{"absent name counts as not listed", inventory, map[string]HostsView{"a.x": good,
			"b.x": hv("a.x", "10.0.0.1", "b.x", "10.0.0.2")}, expect{
			status: checks.Warn, msg: []string{"c.x"}, remedy: []string{"on b.x add `10.0.0.3 c.x`"},
			details: []string{"c.x: unknown (did not answer the hosts query; not in the mesh)"}}},
		{"all agree against the inventory", inventory, map[string]HostsView{
			"a.x": hv("a.x", "10.0.0.1", "b.x", "10.0.0.2", "c.x", "10.0.0.33"),
			"b.x": hv("a.x", "10.0.0.1", "b.x", "10.0.0.2", "c.x", "10.0.0.33")}, expect{
			status: checks.Crit, msg: []string{"c.x"},
			remedy: []string{"on a.x, b.x replace the line mapping c.x to 10.0.0.33 with `10.0.0.3 c.x`"}}},
		{"no inventory, majority wins", nil, map[string]HostsView{
			"a.x": hv("a.x", "10.0.0.1"), "b.x": hv("a.x", "10.0.0.1"), "c.x": hv("a.x", "10.0.0.7", "a.x", "10.0.0.1")}, expect{
			status: checks.Crit, msg: []string{"a.x"},
			details: []string{"a.x: 10.0.0.1 on a.x, b.x; 10.0.0.1,10.0.0.7 on c.x"},
			remedy:  []string{"on c.x replace the line mapping a.x to 10.0.0.1,10.0.0.7 with `10.0.0.1 a.x`"}}},
		{"no inventory, tie", nil, map[string]HostsView{"a.x": hv("a.x", "10.0.0.1"), "b.x": hv("a.x", "10.0.0.2")}, expect{
			status: checks.Crit, remedy: []string{"decide which address a.x has and map it alike on every node"}}},
		{"one node answered", inventory, map[string]HostsView{"a.x": good}, expect{
			status: checks.OK, details: []string{"b.x: unknown (did not answer", "c.x: unknown (did not answer"}}},
		{"nobody answered", inventory, nil, expect{status: checks.Unknown, msg: []string{"no node answered"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.check(t, HostsCheck(View{Inventory: tt.inv, Hosts: tt.hosts}))
		})
	}
}
