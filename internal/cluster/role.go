package cluster

import (
	"fmt"
	"slices"
	"strings"
)

// Role is what a host does in the cluster. The string form is what the
// config file, gossip tags and JSON output use.
type Role string

const (
	RoleCore             Role = "core"                  // first (seed) KUMA Core; in k0s layouts, the worker labelled for Core
	RoleCorePeer         Role = "core-peer"             // additional Raft Core service (kuma_core_peers)
	RoleCollector        Role = "collector"             // KUMA collector service
	RoleCorrelator       Role = "correlator"            // KUMA correlator service
	RoleStorage          Role = "storage"               // KUMA storage (ClickHouse) service
	RoleController       Role = "k0s-controller"        // dedicated k0s control-plane node (etcd member)
	RoleControllerWorker Role = "k0s-controller-worker" // k0s controller that also runs workload (demo only)
	RoleWorker           Role = "k0s-worker"            // k0s worker (runs the Core pod and Longhorn replicas)
	RoleLB               Role = "lb"                    // nginx TCP load balancer in front of the cluster
	RoleAcuraNode        Role = "acura-node"            // Hystax Acura HA Kubernetes node
)

// roleInfo is the role model as a table: what each role implies for quorum
// groups and naming rules. Adding a role means adding a row here.
var roleInfo = map[Role]struct {
	desc string
	// raftMember: counts towards the KUMA Core Raft group.
	raftMember bool
	// etcdMember: counts towards the etcd (k0s or kubeadm) quorum.
	etcdMember bool
	// runsWorkload: a Kubernetes node that schedules pods.
	runsWorkload bool
}{
	RoleCore:             {desc: "KUMA Core", raftMember: true},
	RoleCorePeer:         {desc: "KUMA Core Raft peer", raftMember: true},
	RoleCollector:        {desc: "KUMA collector"},
	RoleCorrelator:       {desc: "KUMA correlator"},
	RoleStorage:          {desc: "KUMA storage"},
	RoleController:       {desc: "k0s controller", etcdMember: true},
	RoleControllerWorker: {desc: "k0s controller+worker", etcdMember: true, runsWorkload: true},
	RoleWorker:           {desc: "k0s worker", runsWorkload: true},
	RoleLB:               {desc: "load balancer"},
	RoleAcuraNode:        {desc: "Acura HA node", etcdMember: true, runsWorkload: true},
}

// AllRoles lists every known role in a stable order.
func AllRoles() []Role {
	return []Role{RoleCore, RoleCorePeer, RoleCollector, RoleCorrelator, RoleStorage,
		RoleController, RoleControllerWorker, RoleWorker, RoleLB, RoleAcuraNode}
}

// ParseRole validates a role name from config or the network.
func ParseRole(s string) (Role, error) {
	r := Role(strings.TrimSpace(s))
	if _, ok := roleInfo[r]; !ok {
		names := make([]string, 0, len(roleInfo))
		for _, k := range AllRoles() {
			names = append(names, string(k))
		}
		return "", fmt.Errorf("unknown role %q (known: %s)", s, strings.Join(names, ", "))
	}
	return r, nil
}

// Description is a human name for the role.
func (r Role) Description() string { return roleInfo[r].desc }

// RaftMember reports whether the role is a KUMA Core Raft voter.
func (r Role) RaftMember() bool { return roleInfo[r].raftMember }

// EtcdMember reports whether the role holds an etcd member.
func (r Role) EtcdMember() bool { return roleInfo[r].etcdMember }

// Roles is a small set of roles kept sorted in AllRoles order.
type Roles []Role

// Has reports whether r is in the set.
func (rs Roles) Has(r Role) bool { return slices.Contains(rs, r) }

// Add returns the set with r added (no duplicates, canonical order).
func (rs Roles) Add(r Role) Roles {
	if rs.Has(r) {
		return rs
	}
	out := append(slices.Clone(rs), r)
	order := AllRoles()
	slices.SortFunc(out, func(a, b Role) int { return slices.Index(order, a) - slices.Index(order, b) })
	return out
}

// Any reports whether some role in the set satisfies f.
func (rs Roles) Any(f func(Role) bool) bool {
	return slices.ContainsFunc(rs, f)
}

func (rs Roles) String() string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}
