package inventory

import (
	"path/filepath"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// ruleAcuraLB: Acura HA is 3 nodes and 1 nginx load balancer, and
// ha_env_file lists only the nodes. Without the balancer declared the
// agent on it belongs to no cluster, and the cluster sees a member the
// inventory does not have.
func ruleAcuraLB(c *cluster.Cluster) []Finding {
	if c.Layout != cluster.LayoutAcura || len(c.WithRole(cluster.RoleLB)) > 0 {
		return nil
	}
	supp := "ha_env_file" + SupplementSuffix
	if c.Source != "" {
		supp = filepath.Base(c.Source) + SupplementSuffix
	}
	return []Finding{newFinding(Warning, "acura-no-load-balancer", nil,
		"declare it in "+supp+" (next to the ha_env_file, on every node): a line `[lb]`, then `<lb host name> ansible_ssh_host=<IP>` "+
			"(and `internal_address=<IP on its interface>` where the two differ); do not add it to the ha_env_file itself: Acura's installer deploys every host there",
		"no load balancer declared: Acura HA needs 3 nodes and 1 nginx load balancer, and the agent on the balancer needs to find itself")}
}

// ruleInternalAddress: internal_address is the node's own address, which
// gossip binds to and every check dials; it must be an IP. Where it
// differs from the address Ansible connects to, say which is which.
func ruleInternalAddress(c *cluster.Cluster) []Finding {
	var out []Finding
	for _, h := range c.Hosts {
		v, ok := h.Vars[InternalAddressVar]
		if !ok {
			continue
		}
		if s := scalarString(v); !isIP(s) {
			out = append(out, newFinding(Error, "internal-address-not-ip", h,
				"set internal_address to the IP address on the node's own interface (`ip -brief addr`)",
				"internal_address %q is not an IP address", s))
			continue
		}
		if h.PublicAddress != "" {
			out = append(out, newFinding(Info, "addresses", h, "",
				"internal address %s (%s: on the node's own interface; gossip, /etc/hosts, DNS and port checks use it), public address %s (%s: Ansible's, for SSH only)",
				h.Address, h.AddressFrom, h.PublicAddress, h.PublicFrom))
		}
	}
	return out
}
