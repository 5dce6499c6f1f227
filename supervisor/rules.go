package supervisor

import (
	"fmt"
	"path"
	"slices"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// Group names a consensus group whose members are healed one at a time.
type Group string

const (
	NoGroup   Group = ""
	GroupRaft Group = "raft" // KUMA Core services in a Raft layout
	GroupEtcd Group = "etcd" // k0s controllers (etcd members)
)

// Rule says which units a node with one of Roles supervises. Group marks
// the units as quorum-critical.
type Rule struct {
	Pattern string // shell glob on the unit name, e.g. "kuma-core-*.service"
	Roles   []cluster.Role
	Group   Group
}

var (
	coreRoles       = []cluster.Role{cluster.RoleCore, cluster.RoleCorePeer}
	controllerRoles = []cluster.Role{cluster.RoleController, cluster.RoleControllerWorker}
	acuraRoles      = []cluster.Role{cluster.RoleAcuraNode}
)

// DefaultRules is the role model's unit table (reference section 1). The
// Raft group applies only in Raft layouts: in a k0s install Core is a pod
// and no kuma-core-* unit exists.
var DefaultRules = []Rule{
	{Pattern: "kuma-core-*.service", Roles: coreRoles, Group: GroupRaft},
	{Pattern: "kuma-core.service", Roles: coreRoles, Group: GroupRaft}, // before KUMA 3: one unit
	{Pattern: "kuma-collector-*.service", Roles: []cluster.Role{cluster.RoleCollector}},
	{Pattern: "kuma-correlator-*.service", Roles: []cluster.Role{cluster.RoleCorrelator}},
	{Pattern: "kuma-storage-*.service", Roles: []cluster.Role{cluster.RoleStorage}},
	{Pattern: "k0scontroller.service", Roles: controllerRoles, Group: GroupEtcd},
	{Pattern: "k0sworker.service", Roles: []cluster.Role{cluster.RoleWorker}},
	{Pattern: "nginx.service", Roles: []cluster.Role{cluster.RoleLB}},
	// An Acura node is a kubeadm control-plane node: kubelet runs the static pods (etcd,
	// kube-apiserver) on containerd, so both count towards the etcd quorum guard.
	{Pattern: "kubelet.service", Roles: acuraRoles, Group: GroupEtcd},
	{Pattern: "containerd.service", Roles: acuraRoles, Group: GroupEtcd},
}

// Selection is the rules that apply to one node.
type Selection struct {
	rules []Rule
}

// Select keeps the rules for roles. With a k0s or Acura layout the Raft
// group is dropped (those units are not Raft voters there).
func Select(rules []Rule, roles cluster.Roles, layout cluster.Layout) Selection {
	var s Selection
	for _, r := range rules {
		if !slices.ContainsFunc(r.Roles, roles.Has) && len(r.Roles) > 0 {
			continue
		}
		if r.Group == GroupRaft && layout != "" && !layout.RaftCore() {
			r.Group = NoGroup
		}
		s.rules = append(s.rules, r)
	}
	return s
}

// Match reports whether unit is supervised, and its group.
func (s Selection) Match(unit string) (Group, bool) {
	for _, r := range s.rules {
		if ok, _ := path.Match(r.Pattern, unit); ok {
			return r.Group, true
		}
	}
	return NoGroup, false
}

// Patterns lists the globs, for listing units over D-Bus.
func (s Selection) Patterns() []string {
	out := make([]string, 0, len(s.rules))
	for _, r := range s.rules {
		out = append(out, r.Pattern)
	}
	return out
}

// Empty reports whether nothing is supervised on this node.
func (s Selection) Empty() bool { return len(s.rules) == 0 }

// ValidateRule names what is wrong with a configured rule.
func ValidateRule(r Rule) error {
	if r.Pattern == "" {
		return fmt.Errorf("pattern is empty")
	}
	if _, err := path.Match(r.Pattern, ""); err != nil {
		return fmt.Errorf("pattern %q: %w", r.Pattern, err)
	}
	switch r.Group {
	case NoGroup, GroupRaft, GroupEtcd:
	default:
		return fmt.Errorf("group %q: want raft, etcd or empty", r.Group)
	}
	for _, role := range r.Roles {
		if _, err := cluster.ParseRole(string(role)); err != nil {
			return err
		}
	}
	return nil
}
