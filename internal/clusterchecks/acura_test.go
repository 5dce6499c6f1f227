package clusterchecks

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/inventory"
)

// Issue 15: the Acura balancer, declared in the ha_env_file's supplement,
// is a member the inventory vouches for (at its internal address), not "a
// member the inventory does not have", and no quorum voter.
func TestAcuraBalancerIsAFullMember(t *testing.T) {
	c, err := inventory.Load(filepath.Join("..", "inventory", "testdata", "inventories", "acura-ha_env_file"))
	if err != nil {
		t.Fatal(err)
	}
	var ms []Member
	for _, h := range c.Hosts {
		ms = append(ms, Member{Name: h.Name, Addr: h.Address, Status: StatusAlive, Tags: Tags{Roles: h.Roles}})
	}
	v := View{Inventory: c, Members: ms}
	if r := MembersCheck(v); r.Status != checks.OK {
		t.Fatalf("members: %v %q %q", r.Status, r.Message, r.Details)
	}
	if bv, ignored := Believed(v); len(bv.Members) != 4 || len(ignored) != 0 {
		t.Errorf("believed %d members (ignored %v), want the 3 nodes and the balancer", len(bv.Members), ignored)
	}
	if r := QuorumCheck(v); r.Status != checks.OK || !strings.Contains(r.Message, "3 etcd members, 3 healthy") {
		t.Errorf("quorum: %v %q", r.Status, r.Message)
	}
	// The balancer's agent at another address than its inventory one is
	// still not believed.
	ms[3].Addr = "203.0.113.9"
	if r := MembersCheck(View{Inventory: c, Members: ms}); r.Status == checks.OK {
		t.Errorf("a balancer at another address was believed: %q", r.Message)
	}
}
