package inventory

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// ipAddressRule: in a layout, hosts with one of roles (all hosts when nil)
// must give an IP address in variable.
type ipAddressRule struct {
	layout   cluster.Layout
	roles    []cluster.Role
	variable string
	code     string
}

var ipAddressRules = []ipAddressRule{
	// The k0s part of the inventory and ansible_host need IP addresses.
	{cluster.LayoutK0s, []cluster.Role{cluster.RoleController, cluster.RoleControllerWorker, cluster.RoleWorker, cluster.RoleLB},
		"ansible_host", "k0s-address-not-ip"},
	// ha_env_file lines are `<HOSTNAME> ansible_ssh_host=<IP>`.
	{cluster.LayoutAcura, nil, "ansible_ssh_host", "acura-address-not-ip"},
}

func ruleAddressIsIP(c *cluster.Cluster) []Finding {
	var out []Finding
	for _, r := range ipAddressRules {
		if r.layout != c.Layout {
			continue
		}
		for _, h := range c.Hosts {
			if r.roles != nil && !slices.ContainsFunc(r.roles, h.Roles.Has) {
				continue
			}
			remedy := "set " + r.variable + " to the node's IP address"
			v, ok := h.Vars[r.variable]
			s := scalarString(v)
			switch {
			case !ok || v == nil || s == "":
				out = append(out, newFinding(Error, r.code, h, remedy,
					"%s has no %s: this layout needs the node's IP address there", h.Name, r.variable))
			case !isIP(s):
				out = append(out, newFinding(Error, r.code, h, remedy,
					"%s has %s %q, which is not an IP address", h.Name, r.variable, s))
			}
		}
	}
	return out
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// reservedRange is an address range a k0s cluster uses internally.
type reservedRange struct {
	prefix netip.Prefix
	code   string
	what   string
}

// k0sRanges are the k0s defaults the KUMA installer keeps: a node in them
// would be shadowed by cluster routing.
var k0sRanges = []reservedRange{
	{netip.MustParsePrefix("10.96.0.0/12"), "address-in-service-range", "service"},
	{netip.MustParsePrefix("10.244.0.0/16"), "address-in-pod-range", "pod"},
}

// ruleAddressRanges applies to every host of a k0s layout, not only the
// nodes: pods reaching an external collector or storage at such an
// address would be routed into the cluster too.
func ruleAddressRanges(c *cluster.Cluster) []Finding {
	if c.Layout != cluster.LayoutK0s {
		return nil
	}
	var out []Finding
	for _, h := range c.Hosts {
		if !h.IP.IsValid() {
			continue
		}
		ip := h.IP.Unmap()
		for _, r := range k0sRanges {
			if r.prefix.Contains(ip) {
				out = append(out, newFinding(Error, r.code, h,
					"give the host an address outside 10.96.0.0/12 and 10.244.0.0/16",
					"%s address %s is in %s, the cluster's %s range", h.Name, ip, r.prefix, r.what))
			}
		}
	}
	return out
}

// ruleDuplicateAddresses: two inventory names for one address means one
// machine is two hosts, or a typo.
func ruleDuplicateAddresses(c *cluster.Cluster) []Finding {
	var out []Finding
	first := map[string]*cluster.Host{}
	for _, h := range c.Hosts {
		key := strings.ToLower(h.Address)
		if h.IP.IsValid() {
			key = h.IP.Unmap().String()
		}
		if key == "" {
			continue
		}
		prev, seen := first[key]
		switch {
		case !seen:
			first[key] = h
		case !strings.EqualFold(prev.Name, h.Name): // same name in other case is duplicate-name-case
			out = append(out, newFinding(Error, "duplicate-address", h,
				"give each host its own address, or merge the two entries",
				"%s has address %s, like %s (line %d)", h.Name, h.Address, prev.Name, prev.Line))
		}
	}
	return out
}
