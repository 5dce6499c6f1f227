package checks

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

func ifaces(list ...IfaceAddr) func() ([]IfaceAddr, error) {
	return func() ([]IfaceAddr, error) { return list, nil }
}

var (
	lo   = IfaceAddr{Iface: "lo", Prefix: netip.MustParsePrefix("127.0.0.1/8"), Loopback: true}
	eth0 = IfaceAddr{Iface: "eth0", Prefix: netip.MustParsePrefix("10.0.0.5/24")}
)

func TestAddressesSaysWhichIsWhich(t *testing.T) {
	h := peerHost("acura-node-1", "10.0.0.5")
	h.AddressFrom, h.PublicAddress, h.PublicFrom = "internal_address", "203.0.113.5", "ansible_ssh_host"
	r := Addresses{Self: h, Interfaces: ifaces(lo, eth0)}.Run(context.Background())
	if r.Status != OK {
		t.Fatalf("%+v", r)
	}
	for _, want := range []string{"internal address 10.0.0.5 (internal_address) is on eth0",
		"public address 203.0.113.5 (ansible_ssh_host) is on no interface: a floating or NAT address, for SSH only"} {
		if !strings.Contains(r.Message, want) {
			t.Errorf("message %q lacks %q", r.Message, want)
		}
	}
}

// The cloud case of issue 15: ansible_ssh_host is the floating address,
// no internal_address declared: the node would advertise an address it
// does not own.
func TestAddressesFloatingAddressIsCritical(t *testing.T) {
	h := peerHost("acura-node-1", "203.0.113.5")
	h.AddressFrom = "ansible_ssh_host"
	r := Addresses{Self: h, Supplement: "/etc/kuma-agent/ha_env_file.kuma-agent", Interfaces: ifaces(lo, eth0)}.Run(context.Background())
	if r.Status != Crit || !strings.Contains(r.Message, "203.0.113.5 (ansible_ssh_host) is on no interface") {
		t.Fatalf("%+v", r)
	}
	if want := "in /etc/kuma-agent/ha_env_file.kuma-agent add the line `acura-node-1 internal_address=<one of: 10.0.0.5 (eth0)>`"; !strings.Contains(r.Remedy, want) {
		t.Errorf("remedy %q lacks %q", r.Remedy, want)
	}
	// A declared internal_address that is not this host's: say so.
	h.AddressFrom = "internal_address"
	if r := (Addresses{Self: h, Interfaces: ifaces(lo, eth0)}).Run(context.Background()); r.Status != Crit || !strings.Contains(r.Remedy, "must be an address on this host") {
		t.Errorf("wrong internal_address: %+v", r)
	}
}

func TestAddressesLoopbackHostsAndErrors(t *testing.T) {
	// The fixtures' 127.0.60.x "hosts" are on lo (Linux answers all of 127/8 there).
	if r := (Addresses{Self: peerHost("n", "127.0.60.1"), Interfaces: ifaces(lo)}).Run(context.Background()); r.Status != OK {
		t.Errorf("loopback host: %+v", r)
	}
	if r := (Addresses{Self: peerHost("n", "127.0.60.1"), Interfaces: ifaces(eth0)}).Run(context.Background()); r.Status != Crit {
		t.Errorf("loopback address without lo: %+v", r)
	}
	fail := func() ([]IfaceAddr, error) { return nil, errors.New("netlink says no") }
	for _, a := range []Addresses{{}, {Self: &cluster.Host{Name: "n", Address: "n.lan"}}, {Self: peerHost("n", "10.0.0.5"), Interfaces: fail}} {
		if r := a.Run(context.Background()); r.Status != Unknown {
			t.Errorf("%+v: %+v", a.Self, r)
		}
	}
	if got, err := SystemInterfaces(); err != nil || len(got) == 0 {
		t.Errorf("system interfaces: %v %v", got, err)
	}
}
