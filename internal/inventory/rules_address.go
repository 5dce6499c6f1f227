package inventory

import (
	"fmt"
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
	why      string
}

var ipAddressRules = []ipAddressRule{
	// The k0s nodes need IP addresses in ansible_host: the installer builds
	// the balancer's upstreams and the cluster from them. The balancer
	// itself needs none: the KUMA help's HA examples give kuma_lb only
	// kuma_managed_lb: true, and the installer reaches it by name.
	{cluster.LayoutK0s, k0sNodeRoles, "ansible_host", "k0s-address-not-ip", "a k0s node needs its IP address there"},
	// ha_env_file lines are `<HOSTNAME> ansible_ssh_host=<IP>`.
	{cluster.LayoutAcura, nil, "ansible_ssh_host", "acura-address-not-ip", "an Acura node needs its IP address there"},
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
			case ok && v != nil && slices.Contains(addressVars, r.variable) && addressProblem(r.variable, v) != "":
				// address-invalid says what is wrong with it
			case !ok || v == nil || s == "":
				out = append(out, newFinding(Error, r.code, h, remedy, "no %s: %s", r.variable, r.why))
			case !isIP(s):
				out = append(out, newFinding(Error, r.code, h, remedy,
					"%s %q is not an IP address: %s", r.variable, s, r.why))
			}
		}
	}
	return out
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// isPlaceholder: 0.0.0.0 and :: (with or without a zone, as in the KUMA
// help's `ip: ::%eth0`) are the installer template's placeholder, never a
// host's address.
func isPlaceholder(ip netip.Addr) bool { return ip.WithZone("").IsUnspecified() }

// addressVars are the variables that must hold an address when given.
var addressVars = []string{"ansible_host", "ip"}

// addressProblem explains why v, the value of the address variable k, is
// no address ("" when it is one, or a host name where k allows one).
func addressProblem(k string, v any) string {
	switch v.(type) {
	case map[string]any:
		return k + " is a mapping, not an address"
	case []any:
		return k + " is a list, not an address"
	}
	s := scalarString(v)
	if strings.TrimSpace(s) == "" {
		return k + " is empty"
	}
	if isIP(s) {
		return ""
	}
	if k == "ip" || looksLikeIP(s) {
		return fmt.Sprintf("%s %q is not an IP address", k, s)
	}
	if strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_')
	}) >= 0 {
		return fmt.Sprintf("%s %q is neither an IP address nor a host name", k, s)
	}
	return ""
}

// looksLikeIP: written as an address (digits and dots, or with a colon),
// so a failed parse is a typo, not a host name.
func looksLikeIP(s string) bool {
	if strings.Contains(s, ":") {
		return true
	}
	return strings.Trim(s, "0123456789.") == ""
}

// ruleAddressValues: an address variable that is set must be an address;
// a bad one is otherwise silently no address at all (the agent would bind
// every interface, the installer would write it into /etc/hosts).
func ruleAddressValues(c *cluster.Cluster) []Finding {
	var out []Finding
	for _, h := range c.Hosts {
		for _, k := range addressVars {
			v, ok := h.Vars[k]
			if !ok || v == nil {
				continue
			}
			if msg := addressProblem(k, v); msg != "" {
				out = append(out, newFinding(Error, "address-invalid", h,
					"write "+k+" as the host's IPv4 or IPv6 address (e.g. 10.0.0.5)", "%s", msg))
			}
		}
	}
	return out
}

// ruleAddressPlaceholder: `ip: 0.0.0.0` is the template's placeholder. The
// KUMA help says to replace it with real addresses only when
// generate_etc_hosts is true (the installer then writes it into
// /etc/hosts); its own examples keep it with generate_etc_hosts: false. An
// unspecified ansible_host is no placeholder: Ansible would connect there.
func ruleAddressPlaceholder(c *cluster.Cluster) []Finding {
	var out []Finding
	for _, h := range c.Hosts {
		for _, k := range addressVars {
			ip, err := netip.ParseAddr(scalarString(h.Vars[k]))
			if err != nil || !isPlaceholder(ip) {
				continue
			}
			switch {
			case k == "ansible_host":
				out = append(out, newFinding(Error, "address-placeholder", h,
					"set ansible_host to the host's address, or remove it to connect by name",
					"ansible_host %s is no address: Ansible would connect to the machine it runs on", ip))
			case truthy(h.Vars["generate_etc_hosts"]):
				out = append(out, newFinding(Warning, "address-placeholder", h,
					"replace it with the host's IP address (with generate_etc_hosts: true every ip must be real)",
					"ip %s is still the template placeholder: with generate_etc_hosts: true the installer writes it into /etc/hosts", ip))
			default:
				out = append(out, newFinding(Info, "address-placeholder", h, "",
					"ip %s is the template placeholder, unused while generate_etc_hosts is not true", ip))
			}
		}
	}
	return out
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
					"address %s is in %s, the cluster's %s range", ip, r.prefix, r.what))
			}
		}
	}
	return out
}

// ruleDuplicateAddresses: two inventory names for one address means one
// machine is two hosts, or a typo. The placeholder 0.0.0.0 / :: is no
// address (Host.Address is empty), so it is never a duplicate.
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
				"address %s is also %s's (line %d)", h.Address, prev.Name, prev.Line))
		}
	}
	return out
}
