package inventory

import (
	"slices"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// rule is one preflight check over a resolved inventory. Each rule decides
// for itself which layouts it applies to and returns nil when it has
// nothing to say.
type rule struct {
	name  string
	check func(*cluster.Cluster) []Finding
}

// rules are the HA requirements of the reference (kuma-ha.md section 1)
// that an inventory alone can reveal, in report order.
var rules = []rule{
	{"raft-odd", ruleRaftOdd},
	{"raft-seed", ruleRaftSeed},
	{"one-core-per-host", ruleOneCorePerHost},
	{"raft-node-addr", ruleRaftNodeAddr},
	{"etcd-quorum", ruleEtcdQuorum},
	{"k0s-master", ruleK0sMaster},
	{"k0s-controller-worker", ruleControllerWorker},
	{"k0s-workers", ruleWorkers},
	{"k0s-load-balancer", ruleLoadBalancer},
	{"k0s-core-on-worker", ruleCoreOnWorker},
	{"acura-load-balancer", ruleAcuraLB},
	{"address-is-ip", ruleAddressIsIP},
	{"internal-address", ruleInternalAddress},
	{"address-values", ruleAddressValues},
	{"address-placeholder", ruleAddressPlaceholder},
	{"address-ranges", ruleAddressRanges},
	{"duplicate-names", ruleDuplicateNames},
	{"duplicate-addresses", ruleDuplicateAddresses},
	{"host-names", ruleHostNames},
	{"core-name", ruleCoreName},
	{"host-roles", ruleHostRoles},
	{"listed-twice", ruleListedTwice},
	{"install-flags", ruleInstallFlags},
}

// Validate reports the problems the reader of c's file read past, then
// runs every rule over c. Findings come in that order; callers sort them
// for display.
func Validate(c *cluster.Cluster) []Finding {
	if c == nil {
		return nil
	}
	var out []Finding
	for _, p := range c.Problems {
		out = append(out, problemFinding(p))
	}
	for _, r := range rules {
		out = append(out, r.check(c)...)
	}
	return out
}

// isRaftLayout: layouts where KUMA Core runs as systemd services, possibly
// in a Raft cluster, rather than as a pod.
func isRaftLayout(l cluster.Layout) bool {
	return slices.Contains([]cluster.Layout{cluster.LayoutDistributed, cluster.LayoutExpand, cluster.LayoutSingle}, l)
}

// k0sNodeRoles make a host a member of the k0s cluster (the LB is not).
var k0sNodeRoles = []cluster.Role{cluster.RoleController, cluster.RoleControllerWorker, cluster.RoleWorker}

func isK0sNode(h *cluster.Host) bool {
	return slices.ContainsFunc(k0sNodeRoles, h.Roles.Has)
}

// k0sNodes lists the k0s cluster members of c.
func k0sNodes(c *cluster.Cluster) []*cluster.Host {
	var out []*cluster.Host
	for _, h := range c.Hosts {
		if isK0sNode(h) {
			out = append(out, h)
		}
	}
	return out
}
