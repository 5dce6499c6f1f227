package cluster

import (
	"fmt"
	"slices"
	"strconv"
)

// Proto is a transport protocol.
type Proto string

const (
	TCP Proto = "tcp"
	UDP Proto = "udp"
)

// Port is one well-known port of the cluster. Name is a stable key that the
// config file uses to override a number (the Raft port is UNVERIFIED: 7209 in
// the 4.0 docs, 7210 in older seeds).
type Port struct {
	Name    string `json:"name"`
	Number  uint16 `json:"port"`
	Proto   Proto  `json:"proto"`
	Purpose string `json:"purpose"`
}

func (p Port) String() string { return strconv.Itoa(int(p.Number)) + "/" + string(p.Proto) }

// The ports of reference section 2, by name.
var (
	PortRaft        = Port{"raft", 7209, TCP, "KUMA Core Raft peers / parent-child Core"}
	PortInternal    = Port{"internal", 7210, TCP, "KUMA Core internal API (services fetch configuration)"}
	PortWebUI       = Port{"web-ui", 7220, TCP, "KUMA web UI"}
	PortCyberTrace  = Port{"cybertrace", 7222, TCP, "KUMA CyberTrace proxy"}
	PortREST        = Port{"rest", 7223, TCP, "KUMA REST API"}
	PortCoreHealth  = Port{"core-health", 7208, TCP, "KUMA Core health (4.0)"}
	PortAPIServer   = Port{"kube-apiserver", 6443, TCP, "kube-apiserver"}
	PortKonnect     = Port{"konnectivity", 8132, TCP, "konnectivity"}
	PortK0sJoin     = Port{"k0s-join", 9443, TCP, "k0s controller join API"}
	PortEtcdPeer    = Port{"etcd-peer", 2380, TCP, "etcd peers"}
	PortEtcdClient  = Port{"etcd-client", 2379, TCP, "etcd clients (kubeadm: on the node's address)"}
	PortKubelet     = Port{"kubelet", 10250, TCP, "kubelet"}
	PortBGP         = Port{"kube-router-bgp", 179, TCP, "kube-router BGP"}
	PortLonghorn    = Port{"longhorn", 9500, TCP, "Longhorn manager"}
	PortWG4         = Port{"wireguard-v4", 51820, UDP, "WireGuard IPv4"}
	PortWG6         = Port{"wireguard-v6", 51821, UDP, "WireGuard IPv6"}
	PortCHNative    = Port{"clickhouse-native", 9000, TCP, "ClickHouse native"}
	PortCHReplica   = Port{"clickhouse-replica", 9009, TCP, "ClickHouse replica<->replica"}
	PortKeeper      = Port{"keeper", 2181, TCP, "ClickHouse keeper client"}
	PortKeeperRaft  = Port{"keeper-raft", 2182, TCP, "ClickHouse keeper<->keeper"}
	PortAcuraHTTP   = Port{"acura-http", 80, TCP, "Acura HTTP"}
	PortAcuraHTTPS  = Port{"acura-https", 443, TCP, "Acura HTTPS"}
	PortAcuraInit   = Port{"acura-initial", 4443, TCP, "Acura initial configuration"}
	PortAcuraLogs   = Port{"acura-logs", 12201, UDP, "Acura logs to ELK"}
	PortAcuraReg    = Port{"acura-registry", 15000, TCP, "Acura registry"}
	PortAcuraMaria  = Port{"acura-mariadb", 30080, TCP, "Acura MariaDB"}
	PortAcuraKibana = Port{"acura-kibana", 30081, TCP, "Acura Kibana"}
	PortAcuraGraf   = Port{"acura-grafana", 30082, TCP, "Acura Grafana"}
)

var kumaServicePorts = []Port{PortRaft, PortInternal, PortWebUI, PortCyberTrace, PortREST}

// listenRule: hosts with Role in one of Layouts (nil = any) must listen on
// Ports: the role's own processes hold them as host sockets there.
type listenRule struct {
	Layouts []Layout
	Role    Role
	Ports   []Port
}

// reachRule: hosts with From must reach hosts with To on Ports (a firewall
// rule: the path must be open; whether something listens at the far end is
// the far end's listen table).
type reachRule struct {
	Layouts []Layout
	From    Role
	To      Role
	Ports   []Port
}

var (
	k0sOnly   = []Layout{LayoutK0s}
	raftKinds = []Layout{LayoutDistributed, LayoutExpand, LayoutSingle}
	acuraOnly = []Layout{LayoutAcura}
)

// listenTable says what must listen on a host: only the sockets a role's
// own processes hold on the host. It is not the seed's port table turned
// inside out: that one is a firewall table (reachTable), and many of its
// destinations are pod ports or NodePorts that no host socket backs.
//   - a dedicated k0s controller runs no kubelet (k0s starts one only with
//     --enable-worker, the controller-worker role), so no 10250;
//   - on a k0s worker the KUMA Core ports (7209-7223) are the Core pod's,
//     published only on workers labelled for the KUMA ingress, and
//     Longhorn's 9500 is a pod port: reachable through the firewall, not
//     required as a host socket; kube-router's BGP (179) and WireGuard
//     depend on the CNI the site chose;
//   - Acura's 30080-30082 are NodePorts: kube-proxy routes them with
//     netfilter rules and holds no socket.
var listenTable = []listenRule{
	{k0sOnly, RoleLB, append(slices.Clone(kumaServicePorts), PortAPIServer, PortKonnect, PortK0sJoin)},
	{k0sOnly, RoleWorker, []Port{PortKubelet}},
	{k0sOnly, RoleControllerWorker, []Port{PortAPIServer, PortKonnect, PortK0sJoin, PortEtcdPeer, PortKubelet}},
	{k0sOnly, RoleController, []Port{PortAPIServer, PortKonnect, PortK0sJoin, PortEtcdPeer}},
	{raftKinds, RoleCore, []Port{PortRaft, PortInternal, PortWebUI, PortCyberTrace, PortREST}},
	{raftKinds, RoleCorePeer, []Port{PortRaft, PortInternal, PortWebUI, PortCyberTrace, PortREST}},
	{nil, RoleStorage, []Port{PortCHNative, PortCHReplica, PortKeeper, PortKeeperRaft}},
	{acuraOnly, RoleAcuraNode, []Port{PortAPIServer, PortEtcdClient, PortEtcdPeer, PortKubelet}},
	{acuraOnly, RoleLB, []Port{PortAcuraHTTP, PortAcuraHTTPS, PortAcuraInit, PortAPIServer, PortAcuraLogs, PortAcuraReg}},
}

// acuraUpstreams are the ports Acura's nginx forwards to the nodes (one
// upstream each, kuma-ha.md section 3); 12201/udp is listed, never probed.
var acuraUpstreams = []Port{PortAcuraHTTP, PortAcuraHTTPS, PortAcuraInit, PortAPIServer, PortAcuraReg, PortAcuraLogs}

// reachTable is the seed table's initiator -> destination rows.
var reachTable = []reachRule{
	// k0s: seed table rows.
	{k0sOnly, RoleWorker, RoleLB, []Port{PortAPIServer, PortKonnect}},
	{k0sOnly, RoleController, RoleLB, []Port{PortAPIServer, PortKonnect, PortK0sJoin}},
	{k0sOnly, RoleLB, RoleWorker, kumaServicePorts},
	{k0sOnly, RoleWorker, RoleWorker, []Port{PortBGP, PortLonghorn, PortKubelet, PortWG4, PortWG6}},
	{k0sOnly, RoleController, RoleWorker, []Port{PortKubelet}},
	{k0sOnly, RoleLB, RoleController, []Port{PortAPIServer, PortKonnect, PortK0sJoin}},
	{k0sOnly, RoleWorker, RoleController, []Port{PortAPIServer, PortKonnect, PortKubelet}},
	{k0sOnly, RoleController, RoleController, []Port{PortEtcdPeer, PortAPIServer, PortK0sJoin, PortKubelet}},
	{k0sOnly, RoleCollector, RoleLB, kumaServicePorts},
	{k0sOnly, RoleCorrelator, RoleLB, kumaServicePorts},
	{k0sOnly, RoleStorage, RoleLB, kumaServicePorts},
	// Raft Core: peers talk Raft, services fetch configuration from every Core.
	{raftKinds, RoleCore, RoleCorePeer, []Port{PortRaft}},
	{raftKinds, RoleCorePeer, RoleCore, []Port{PortRaft}},
	{raftKinds, RoleCorePeer, RoleCorePeer, []Port{PortRaft}},
	{raftKinds, RoleCollector, RoleCore, []Port{PortInternal}},
	{raftKinds, RoleCorrelator, RoleCore, []Port{PortInternal}},
	{raftKinds, RoleStorage, RoleCore, []Port{PortInternal}},
	// Storage cluster: replicas and keepers talk among themselves.
	{nil, RoleStorage, RoleStorage, []Port{PortCHReplica, PortKeeperRaft}},
	// Acura: all TCP is open between nodes; these are the ones that matter
	// (Kubernetes, etcd, kubelet, the NodePorts of MariaDB, Kibana, Grafana).
	{acuraOnly, RoleAcuraNode, RoleAcuraNode, []Port{PortAPIServer, PortEtcdClient, PortEtcdPeer, PortKubelet, PortAcuraMaria, PortAcuraKibana, PortAcuraGraf}},
	// The kubelets reach the API through the balancer (kubeadm's control
	// plane endpoint), and the balancer reaches every node per upstream.
	{acuraOnly, RoleAcuraNode, RoleLB, []Port{PortAPIServer}},
	{acuraOnly, RoleLB, RoleAcuraNode, acuraUpstreams},
}

// Overrides maps a port Name to the number this site uses.
type Overrides map[string]uint16

// Validate rejects names that no port in the matrix has.
func (o Overrides) Validate() error {
	for name := range o {
		if _, ok := portByName()[name]; !ok {
			return fmt.Errorf("unknown port name %q", name)
		}
	}
	return nil
}

func portByName() map[string]Port {
	m := map[string]Port{}
	for _, r := range listenTable {
		for _, p := range r.Ports {
			m[p.Name] = p
		}
	}
	for _, r := range reachTable {
		for _, p := range r.Ports {
			m[p.Name] = p
		}
	}
	m[PortCoreHealth.Name] = PortCoreHealth
	return m
}

// KnownPorts lists every named port of the matrix, sorted by name.
func KnownPorts() []Port {
	m := portByName()
	out := make([]Port, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Port) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

func (o Overrides) apply(p Port) Port {
	if n, ok := o[p.Name]; ok && n != 0 {
		p.Number = n
	}
	return p
}

func layoutMatches(ls []Layout, l Layout) bool { return ls == nil || slices.Contains(ls, l) }

// ListenPorts returns the ports a host with roles must listen on in layout l,
// deduplicated, in table order: only what the roles' own processes hold as
// host sockets (see listenTable).
func ListenPorts(l Layout, roles Roles, o Overrides) []Port {
	var out []Port
	seen := map[string]bool{}
	for _, r := range listenTable {
		if !layoutMatches(r.Layouts, l) || !roles.Has(r.Role) {
			continue
		}
		for _, p := range r.Ports {
			p = o.apply(p)
			if k := p.String(); !seen[k] {
				seen[k] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// Target is one peer port a host must reach.
type Target struct {
	Host *Host `json:"-"`
	Port Port  `json:"port"`
	// Listens: the peer's listen table requires a socket on Port, so a
	// refusal there is the peer's missing service; elsewhere a refusal
	// only proves the path is open.
	Listens bool `json:"listens,omitempty"`
}

// ReachTargets returns every (peer, port) that host self must be able to
// reach in cluster c, deduplicated. A host never probes itself.
func ReachTargets(c *Cluster, self *Host, o Overrides) []Target {
	var out []Target
	seen := map[string]bool{}
	for _, r := range reachTable {
		if !layoutMatches(r.Layouts, c.Layout) || !self.Roles.Has(r.From) {
			continue
		}
		for _, peer := range c.Hosts {
			if peer == self || peer.Name == self.Name || !peer.Roles.Has(r.To) {
				continue
			}
			listens := ListenPorts(c.Layout, peer.Roles, o)
			for _, p := range r.Ports {
				p = o.apply(p)
				k := peer.Name + "|" + p.String()
				if !seen[k] {
					seen[k] = true
					out = append(out, Target{Host: peer, Port: p, Listens: slices.Contains(listens, p)})
				}
			}
		}
	}
	return out
}

// ReachPorts returns the ports hosts with roles from must reach on hosts
// with roles to in layout l (the firewall rows between them), deduplicated.
func ReachPorts(l Layout, from, to Roles, o Overrides) []Port {
	var out []Port
	for _, r := range reachTable {
		if !layoutMatches(r.Layouts, l) || !from.Has(r.From) || !to.Has(r.To) {
			continue
		}
		for _, p := range r.Ports {
			if p = o.apply(p); !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}
