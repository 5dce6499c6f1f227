package cluster

import (
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Layout is the kind of HA design an inventory describes.
type Layout string

const (
	LayoutK0s         Layout = "k0s"         // Core on k0s Kubernetes with Longhorn and an nginx LB
	LayoutDistributed Layout = "distributed" // services on several hosts, Core possibly a Raft cluster
	LayoutExpand      Layout = "expand"      // expand.sh inventory adding Raft Core peers
	LayoutSingle      Layout = "single"      // all-in-one host
	LayoutAcura       Layout = "acura"       // Hystax Acura HA (kubeadm) cluster
)

// Host is one machine of the cluster as the inventory describes it.
type Host struct {
	// Name is the inventory name; for KUMA it must equal `hostname -f`.
	Name string `json:"name"`
	// Address is ansible_host / ip / ansible_ssh_host exactly as written;
	// the unspecified 0.0.0.0 and :: (the installer template's placeholder)
	// are no address and leave it empty.
	Address string `json:"address,omitempty"`
	// AddressFrom names the variable Address came from (ansible_host,
	// internal_address, ...), so a report can say why it is the one used.
	AddressFrom string `json:"address_from,omitempty"`
	// PublicAddress is the address Ansible connects to when the inventory
	// also gives the node's own (internal) address and the two differ: a
	// cloud's floating address, used for SSH, never for the cluster.
	PublicAddress string `json:"public_address,omitempty"`
	PublicFrom    string `json:"public_from,omitempty"`
	// IP is Address parsed, or the zero Addr when Address is not an IP.
	IP    netip.Addr `json:"-"`
	Roles Roles      `json:"roles"`
	// Groups are the inventory groups the host was listed in.
	Groups []string `json:"groups,omitempty"`
	// Vars are the host's variables after group inheritance.
	Vars map[string]any `json:"-"`
	// Line is where the host was first declared in its inventory file.
	Line int `json:"line,omitempty"`
}

// Cluster is the whole inventory resolved into hosts.
type Cluster struct {
	Layout Layout  `json:"layout"`
	Hosts  []*Host `json:"hosts"`
	// Source is the file the cluster was read from (for messages).
	Source string `json:"source,omitempty"`
	// Problems are the mistakes the inventory's reader read past (a group
	// of the wrong shape, a duplicate key, host lines folded into one
	// string), in file order; package inventory reports them with the
	// findings of its rules.
	Problems []Problem `json:"problems,omitempty"`
}

// Problem is one mistake in the text of an inventory file that its reader
// could read past, located by line and, when it is about one host, host.
type Problem struct {
	// Warning: Ansible reads past it with a warning; otherwise it is an
	// error (Ansible refuses the file, or drops what the author meant).
	Warning bool   `json:"warning,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Remedy  string `json:"remedy,omitempty"`
	Host    string `json:"host,omitempty"`
	Line    int    `json:"line,omitempty"`
}

// Host returns the host with the given name (exact match), or nil.
func (c *Cluster) Host(name string) *Host {
	for _, h := range c.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// HostFold finds a host whose name matches case-insensitively; used to tell
// "wrong case" apart from "not in the inventory".
func (c *Cluster) HostFold(name string) *Host {
	for _, h := range c.Hosts {
		if strings.EqualFold(h.Name, name) {
			return h
		}
	}
	return nil
}

// WithRole lists the hosts holding role r, in inventory order.
func (c *Cluster) WithRole(r Role) []*Host {
	var out []*Host
	for _, h := range c.Hosts {
		if h.Roles.Has(r) {
			out = append(out, h)
		}
	}
	return out
}

// Count returns how many hosts satisfy f.
func (c *Cluster) Count(f func(*Host) bool) int {
	n := 0
	for _, h := range c.Hosts {
		if f(h) {
			n++
		}
	}
	return n
}

// RaftMembers lists hosts running a KUMA Core Raft service.
func (c *Cluster) RaftMembers() []*Host {
	return c.filter(func(h *Host) bool { return h.Roles.Any(Role.RaftMember) })
}

// EtcdMembers lists hosts holding an etcd member (k0s or Acura controllers).
func (c *Cluster) EtcdMembers() []*Host {
	return c.filter(func(h *Host) bool { return h.Roles.Any(Role.EtcdMember) })
}

func (c *Cluster) filter(f func(*Host) bool) []*Host {
	var out []*Host
	for _, h := range c.Hosts {
		if f(h) {
			out = append(out, h)
		}
	}
	return out
}

// NameRule says whether host names must be FQDNs: KUMA requires a dot in
// `hostname -f`, Acura forbids one.
type NameRule int

const (
	NameNeedsDot NameRule = iota
	NameNoDot
	// NameAny: any RFC 1123 name (Acura's balancer: Acura's no-dot rule
	// is its kubeadm nodes', and the balancer is none).
	NameAny
)

// NameRuleFor is the hostname rule for a host with roles in layout l:
// the layout's, except on an Acura host that is no Acura node.
func (l Layout) NameRuleFor(roles Roles) NameRule {
	if l == LayoutAcura && !roles.Has(RoleAcuraNode) {
		return NameAny
	}
	return l.NameRule()
}

// RaftCore reports whether the layout's KUMA Core services form a Raft
// group (in a k0s layout Core is a pod, in Acura there is none).
func (l Layout) RaftCore() bool { return slices.Contains(raftKinds, l) }

// NameRule returns the hostname rule for the layout.
func (l Layout) NameRule() NameRule {
	if l == LayoutAcura {
		return NameNoDot
	}
	return NameNeedsDot
}

// RaftAddr is the Raft address the inventory gives the Core on h: its
// raft_node_addr (host:port), else its inventory name (the FQDN KUMA
// requires) and port.
func (h *Host) RaftAddr(port int) string {
	if v, ok := h.Vars["raft_node_addr"].(string); ok {
		if host, _, err := net.SplitHostPort(v); err == nil && host != "" {
			return v
		}
	}
	return net.JoinHostPort(h.Name, strconv.Itoa(port))
}
