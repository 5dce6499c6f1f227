package checks

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// IfaceAddr is one address on one of this host's interfaces.
type IfaceAddr struct {
	Iface    string
	Prefix   netip.Prefix
	Loopback bool
}

// Addresses tells which of the node's inventory addresses is its own: the
// one gossip binds to, /etc/hosts and DNS must give and peers dial (the
// internal address) must be on one of its interfaces; the one Ansible
// connects to may be a cloud's floating address that is not. Without
// this a node advertises an address it does not own and nobody reaches it.
type Addresses struct {
	// Self is this node's inventory entry.
	Self *cluster.Host
	// Supplement is where internal_address is declared (for the remedy).
	Supplement string
	// Interfaces lists this host's addresses; nil means the system's.
	Interfaces func() ([]IfaceAddr, error)
}

func (Addresses) Name() string { return "addresses" }
func (Addresses) Area() Area   { return AreaNetwork }

// SystemInterfaces reads the host's interface addresses.
func SystemInterfaces() ([]IfaceAddr, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	var out []IfaceAddr
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			return nil, fmt.Errorf("addresses of %s: %w", ifc.Name, err)
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ones, _ := ipn.Mask.Size()
			out = append(out, IfaceAddr{Iface: ifc.Name, Prefix: netip.PrefixFrom(ip.Unmap(), ones), Loopback: ifc.Flags&net.FlagLoopback != 0})
		}
	}
	return out, nil
}

// owner names the interface that holds ip: its exact address, or for a
// loopback interface any address in its prefix (Linux answers the whole
// 127.0.0.0/8 on lo, which the demo and the tests use as "hosts").
func owner(ifs []IfaceAddr, ip netip.Addr) (string, bool) {
	ip = ip.Unmap().WithZone("")
	for _, a := range ifs {
		if a.Prefix.Addr() == ip || a.Loopback && a.Prefix.Contains(ip) {
			return a.Iface, true
		}
	}
	return "", false
}

func (a Addresses) Run(context.Context) Result {
	h := a.Self
	if h == nil {
		return Unknownf("this node is not in the inventory: no address to compare", "see the inventory check")
	}
	if !h.IP.IsValid() {
		return Unknownf(fmt.Sprintf("the inventory gives %s no IP address (%q)", h.Name, h.Address), "see the inventory check")
	}
	list := a.Interfaces
	if list == nil {
		list = SystemInterfaces
	}
	ifs, err := list()
	if err != nil {
		return Unknownf(fmt.Sprintf("cannot list this host's addresses: %v", err), "")
	}
	var own []string
	for _, x := range ifs {
		if !x.Loopback && !x.Prefix.Addr().IsLinkLocalUnicast() {
			own = append(own, x.Prefix.Addr().String()+" ("+x.Iface+")")
		}
	}
	details := []string{"this host's addresses: " + cmp.Or(strings.Join(own, ", "), "none but loopback")}
	from := cmp.Or(h.AddressFrom, "the inventory")
	ifc, ok := owner(ifs, h.IP)
	if !ok {
		remedy := fmt.Sprintf("declare the node's own address: in %s add the line `%s %s=<one of: %s>`",
			cmp.Or(a.Supplement, "the inventory"), h.Name, "internal_address", cmp.Or(strings.Join(own, ", "), "the address on its LAN interface"))
		if h.AddressFrom == "internal_address" {
			remedy = fmt.Sprintf("internal_address of %s must be an address on this host (`ip -brief addr`): one of %s", h.Name, cmp.Or(strings.Join(own, ", "), "none found"))
		}
		return Critf(fmt.Sprintf("%s %s (%s) is on no interface of this host: gossip, /etc/hosts, DNS and port checks would use an address this node does not own (a cloud's floating or NAT address?)",
			h.Name, h.IP, from), remedy, details...)
	}
	msg := fmt.Sprintf("internal address %s (%s) is on %s: gossip, /etc/hosts, DNS and port checks use it", h.IP, from, ifc)
	if h.PublicAddress != "" {
		where := "on no interface: a floating or NAT address, for SSH only"
		if pub, err := netip.ParseAddr(h.PublicAddress); err == nil {
			if i, ok := owner(ifs, pub); ok {
				where = "on " + i + " too, for SSH only"
			}
		}
		msg += fmt.Sprintf("; public address %s (%s) is %s", h.PublicAddress, cmp.Or(h.PublicFrom, "ansible_ssh_host"), where)
	}
	return Okf(msg, details...)
}
