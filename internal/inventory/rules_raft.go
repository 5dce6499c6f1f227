package inventory

import (
	"net"
	"strconv"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// coreGroups are where Raft Core services are declared.
var coreGroups = map[string]bool{"kuma_core": true, "kuma_core_peers": true}

// ruleRaftOdd: only an odd number of Core services is allowed, so
// kuma_core (one host) plus an even number of kuma_core_peers.
func ruleRaftOdd(c *cluster.Cluster) []Finding {
	if !isRaftLayout(c.Layout) {
		return nil
	}
	cores, peers := len(c.WithRole(cluster.RoleCore)), len(c.WithRole(cluster.RoleCorePeer))
	n := cores + peers
	switch {
	case n > 1 && n%2 == 0:
		return []Finding{newFinding(Error, "raft-even-cores", nil,
			"add one host to kuma_core_peers or remove one, so that the peers are even",
			"%d Core services (%d in kuma_core + %d in kuma_core_peers): Raft allows only an odd number, so kuma_core_peers must hold an even number of hosts",
			n, cores, peers)}
	case n >= 3:
		q := cluster.QuorumOf(n, n)
		return []Finding{newFinding(Info, "raft-quorum", nil, "",
			"%d Core services in Raft: quorum %d, %d may fail", n, q.Needed, q.MayFail)}
	}
	return nil
}

// ruleRaftSeed: peers join the first Core (--raft.join), which kuma_core
// names; there is exactly one.
func ruleRaftSeed(c *cluster.Cluster) []Finding {
	if !isRaftLayout(c.Layout) {
		return nil
	}
	cores, peers := c.WithRole(cluster.RoleCore), c.WithRole(cluster.RoleCorePeer)
	if len(cores) == 0 && len(peers) > 0 {
		return []Finding{newFinding(Error, "raft-no-seed", peers[0],
			"list the first (existing) Core host in kuma_core",
			"kuma_core_peers has %d hosts but kuma_core is empty: peers join the first Core with --raft.join", len(peers))}
	}
	var out []Finding
	for _, h := range cores[min(1, len(cores)):] {
		out = append(out, newFinding(Error, "raft-multiple-seeds", h,
			"keep the first Core in kuma_core and move further Cores to kuma_core_peers",
			"kuma_core lists %d hosts; it takes exactly one, the first Core", len(cores)))
	}
	return out
}

// ruleOneCorePerHost: one Core service per host, so a host is declared
// once across kuma_core and kuma_core_peers.
func ruleOneCorePerHost(c *cluster.Cluster) []Finding {
	if c.Layout == cluster.LayoutAcura {
		return nil
	}
	var out []Finding
	for _, h := range c.Hosts {
		n := 0
		for _, g := range h.Groups {
			if coreGroups[g] {
				n++
			}
		}
		if h.Roles.Has(cluster.RoleCore) && h.Roles.Has(cluster.RoleCorePeer) {
			n = max(n, 2)
		}
		if n > 1 {
			out = append(out, newFinding(Error, "one-core-per-host", h,
				"declare the host once, in kuma_core or in kuma_core_peers; put another Core on another host",
				"declared %d times as a Core: only one Core service per host is allowed", n))
		}
	}
	return out
}

// ruleRaftNodeAddr: raft_node_addr is `<FQDN>:<port>`, and Core announces
// $(hostname -f), which is the inventory name.
func ruleRaftNodeAddr(c *cluster.Cluster) []Finding {
	if !isRaftLayout(c.Layout) {
		return nil
	}
	var out []Finding
	for _, h := range c.RaftMembers() {
		v, ok := h.Vars["raft_node_addr"]
		if !ok || v == nil {
			continue
		}
		addr := scalarString(v)
		host, port, err := net.SplitHostPort(addr)
		if p, perr := strconv.Atoi(port); err != nil || perr != nil || p < 1 || p > 65535 || host == "" {
			out = append(out, newFinding(Error, "raft-node-addr-invalid", h,
				"write raft_node_addr as <FQDN>:<port>, e.g. "+h.Name+":7209",
				"raft_node_addr %q is not <FQDN>:<port>", addr))
			continue
		}
		if host != h.Name {
			out = append(out, newFinding(Warning, "raft-node-addr-name", h,
				"use the host's own FQDN (hostname -f) in raft_node_addr",
				"raft_node_addr names %q, not this host: peers would reach this Core under another name", host))
		}
	}
	return out
}
