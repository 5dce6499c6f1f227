package inventory

import (
	"slices"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// etcdLabel names the etcd members in messages, per layout.
var etcdLabel = map[cluster.Layout]string{
	cluster.LayoutK0s:   "controllers",
	cluster.LayoutAcura: "Acura nodes (etcd members)",
}

// ruleEtcdQuorum: etcd needs floor(n/2)+1 members; an even count adds a
// member without adding a tolerated failure, and one controller is a
// single point of failure for a multi-node cluster.
func ruleEtcdQuorum(c *cluster.Cluster) []Finding {
	label, ok := etcdLabel[c.Layout]
	if !ok {
		return nil
	}
	n := len(c.EtcdMembers())
	nodes := len(c.EtcdMembers())
	if c.Layout == cluster.LayoutK0s {
		nodes = len(k0sNodes(c))
	}
	q := cluster.QuorumOf(n, n)
	switch {
	case n == 0 && c.Layout == cluster.LayoutK0s:
		return []Finding{newFinding(Error, "no-controller", nil,
			"add 3 dedicated controllers: one in kuma_control_plane_master, two in kuma_control_plane",
			"no k0s controller: kuma_control_plane_master, kuma_control_plane and their *_worker variants are empty")}
	case n == 1 && nodes > 1:
		return []Finding{newFinding(Warning, "single-controller", nil,
			"add two more controllers (3 dedicated controllers on different physical hosts for production)",
			"1 %s in a %d-node cluster: quorum %d, %d may fail; losing it leaves the cluster unmanageable",
			strings.TrimSuffix(label, "s"), nodes, q.Needed, q.MayFail)}
	case n > 1 && n%2 == 0:
		return []Finding{newFinding(Warning, "controllers-even", nil,
			"use an odd number: 3 dedicated controllers on different physical hosts for production",
			"%d %s need %d for quorum and tolerate %d failures; %d would tolerate as many",
			n, label, q.Needed, q.MayFail, n-1)}
	case n >= 3:
		return []Finding{newFinding(Info, "etcd-quorum", nil, "",
			"%d %s: quorum %d, %d may fail", n, label, q.Needed, q.MayFail)}
	}
	return nil
}

// masterGroups hold the first controller, which the others join.
var masterGroups = map[string]bool{"kuma_control_plane_master": true, "kuma_control_plane_master_worker": true}

// ruleK0sMaster: the installer bootstraps k0s on one master controller
// and joins the rest to it, so exactly one host is a master.
func ruleK0sMaster(c *cluster.Cluster) []Finding {
	if c.Layout != cluster.LayoutK0s || len(c.EtcdMembers()) == 0 {
		return nil
	}
	var masters []*cluster.Host
	for _, h := range c.Hosts {
		if slices.ContainsFunc(h.Groups, func(g string) bool { return masterGroups[g] }) {
			masters = append(masters, h)
		}
	}
	switch {
	case len(masters) == 0:
		return []Finding{newFinding(Warning, "control-plane-master-count", nil,
			"move one controller to kuma_control_plane_master (or kuma_control_plane_master_worker)",
			"no host in kuma_control_plane_master or kuma_control_plane_master_worker: the cluster has no first controller to bootstrap")}
	case len(masters) > 1:
		var out []Finding
		for _, h := range masters[1:] {
			out = append(out, newFinding(Warning, "control-plane-master-count", h,
				"keep one host in the *_master groups and move the others to kuma_control_plane",
				"%d hosts in kuma_control_plane_master(_worker): exactly one first controller is expected", len(masters)))
		}
		return out
	}
	return nil
}

// ruleControllerWorker: a controller that also runs workload is for demos
// only; losing it may lose Core, and upgrades are refused.
func ruleControllerWorker(c *cluster.Cluster) []Finding {
	if c.Layout != cluster.LayoutK0s || len(k0sNodes(c)) < 2 {
		return nil
	}
	var out []Finding
	for _, h := range c.Hosts {
		combined := h.Roles.Has(cluster.RoleControllerWorker) ||
			h.Roles.Has(cluster.RoleController) && h.Roles.Has(cluster.RoleWorker)
		if combined {
			out = append(out, newFinding(Warning, "controller-worker-combined", h,
				"use dedicated controllers (kuma_control_plane_master, kuma_control_plane) and separate workers",
				"both controller and worker: a demo-only setup; if the Core pod runs there, losing it loses Core, and upgrades are refused while roles are combined"))
		}
	}
	return out
}

// ruleWorkers: the Core pod and its Longhorn volume replicas need at least
// two workers to move between.
func ruleWorkers(c *cluster.Cluster) []Finding {
	if c.Layout != cluster.LayoutK0s {
		return nil
	}
	workers := len(c.WithRole(cluster.RoleWorker))
	switch {
	case workers == 0 && len(c.WithRole(cluster.RoleControllerWorker)) == 0:
		return []Finding{newFinding(Error, "no-worker", nil,
			"add at least 2 hosts to kuma_worker",
			"no k0s worker: the Core pod has nowhere to run")}
	case workers < 2 && len(k0sNodes(c)) > 1:
		return []Finding{newFinding(Warning, "single-worker", nil,
			"add a second worker to kuma_worker (production needs at least 2)",
			"%d dedicated worker(s): the Core pod and its Longhorn volume replicas have no other worker to move to", workers)}
	}
	return nil
}

// ruleLoadBalancer: the k0s design puts an external TCP load balancer in
// front of the cluster, and it must not share a host with a k0s node since
// both would listen on the same ports.
func ruleLoadBalancer(c *cluster.Cluster) []Finding {
	if c.Layout != cluster.LayoutK0s {
		return nil
	}
	lbs := c.WithRole(cluster.RoleLB)
	if len(lbs) == 0 && len(k0sNodes(c)) <= 1 {
		// The KUMA help's demo example (one controller+worker) has none.
		return []Finding{newFinding(Info, "no-load-balancer", nil, "",
			"kuma_lb is empty: fine for a one-node demo; an HA cluster needs a TCP load balancer in front")}
	}
	if len(lbs) == 0 {
		return []Finding{newFinding(Warning, "no-load-balancer", nil,
			"add the nginx load balancer host to kuma_lb",
			"kuma_lb is empty: the k0s design needs an external TCP load balancer in front of the cluster")}
	}
	lbPorts := cluster.ListenPorts(c.Layout, cluster.Roles{cluster.RoleLB}, nil)
	var out []Finding
	for _, h := range lbs {
		if !isK0sNode(h) {
			continue
		}
		var others cluster.Roles
		for _, r := range h.Roles {
			if r != cluster.RoleLB {
				others = append(others, r)
			}
		}
		var clash []string
		// What the node listens on itself, and what the balancer forwards
		// to its roles (the KUMA ports of a worker's ingress are pod ports,
		// not in its listen table, but still taken on that host).
		taken := append(cluster.ListenPorts(c.Layout, others, nil), cluster.ReachPorts(c.Layout, cluster.Roles{cluster.RoleLB}, others, nil)...)
		for _, p := range taken {
			if slices.Contains(lbPorts, p) && !slices.Contains(clash, p.String()) {
				clash = append(clash, p.String())
			}
		}
		if len(clash) > 0 {
			out = append(out, newFinding(Error, "lb-port-conflict", h,
				"put the load balancer on a host of its own",
				"load balancer and k0s node (%s) on one host: both listen on %s", others, strings.Join(clash, ", ")))
		}
	}
	return out
}

// ruleCoreOnWorker: in a k0s install the Core runs as a pod on the workers
// labelled kaspersky.com/kuma-core=true. kuma_core, when given, keeps the
// host the Core was installed on: the KUMA help's 3.0.x k0s examples put a
// host there that is no k0s node, and its migration page says kuma_core
// must list the hosts used at install time (the Core to move into the
// cluster). So a kuma_core host outside the cluster is worth knowing, not
// a mistake.
func ruleCoreOnWorker(c *cluster.Cluster) []Finding {
	if c.Layout != cluster.LayoutK0s {
		return nil
	}
	var out []Finding
	for _, h := range c.WithRole(cluster.RoleCore) {
		if !h.Roles.Has(cluster.RoleWorker) && !h.Roles.Has(cluster.RoleControllerWorker) {
			out = append(out, newFinding(Info, "core-not-on-worker", h, "",
				"in kuma_core, not a k0s worker: kuma_core keeps the host the Core was installed on "+
					"(moved into the cluster when need_transfer is true); the Core pod runs on the workers "+
					"labelled kaspersky.com/kuma-core=true"))
		}
	}
	return out
}
