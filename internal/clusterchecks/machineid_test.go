package clusterchecks

import (
	"testing"

	"github.com/kuma-agent/kuma-agent/checks"
)

func TestMachineIDCheck(t *testing.T) {
	same := func(ms []Member, id string, names ...string) []Member {
		for i := range ms {
			for _, n := range names {
				if ms[i].Name == n {
					ms[i].Tags.MachineIDHash = MachineIDHash(id)
				}
			}
		}
		return ms
	}
	noHash := func(ms []Member, name string) []Member {
		for i := range ms {
			if ms[i].Name == name {
				ms[i].Tags.MachineIDHash = ""
			}
		}
		return ms
	}
	tests := []struct {
		name    string
		members []Member
		want    expect
	}{
		{"distinct", alive("a", "b", "c"), expect{status: checks.OK, msg: []string{"3 nodes"}}},
		{"one node", alive("a"), expect{status: checks.OK, msg: []string{"1 node"}}},
		{"no members", nil, expect{status: checks.Unknown}},
		{"pair", same(alive("a", "b", "c"), "clone", "c", "b"), expect{
			status: checks.Crit, msg: []string{"b, c"}, notMsg: []string{": a", ", a"},
			remedy:  []string{"keep b, regenerate on c", machineIDCommand, "administrator confirms"},
			details: []string{"same machine-id on b, c"}}},
		{"two groups", same(same(alive("a", "b", "c", "d", "e"), "x", "a", "b", "c"), "y", "d", "e"), expect{
			status: checks.Crit, msg: []string{"a, b, c", "d, e"},
			remedy: []string{"keep a, regenerate on b, c", "keep d, regenerate on e"}}},
		{"failed member counts", withStatus(same(alive("a", "b"), "x", "a", "b"), "b", StatusFailed), expect{
			status: checks.Crit, msg: []string{"a, b"}}},
		{"left member ignored", withStatus(same(alive("a", "b", "c"), "x", "a", "b"), "b", StatusLeft), expect{
			status: checks.OK, msg: []string{"2 nodes"}}},
		{"unknown is a detail", noHash(alive("a", "b", "c"), "c"), expect{
			status: checks.OK, msg: []string{"1 unknown"}, details: []string{"c: machine-id unknown"}}},
		{"too few known", noHash(noHash(alive("a", "b"), "a"), "b"), expect{
			status: checks.Unknown, msg: []string{"a, b"}, details: []string{"a: machine-id unknown", "b: machine-id unknown"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.check(t, MachineIDCheck(View{Members: tt.members}))
		})
	}
}
