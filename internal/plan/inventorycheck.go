package plan

import (
	"context"
	"fmt"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/inventory"
)

// inventoryCheck tells whether this node belongs to the cluster it is meant
// to, and repeats the inventory's own preflight findings: an agent cannot
// judge a node against a broken plan.
type inventoryCheck struct {
	path    string
	cluster *cluster.Cluster
	loadErr error
	node    Node
}

func (inventoryCheck) Name() string      { return "inventory" }
func (inventoryCheck) Area() checks.Area { return checks.AreaCluster }

func (c inventoryCheck) Run(context.Context) checks.Result {
	if c.loadErr != nil {
		return checks.Critf(fmt.Sprintf("cannot read the inventory: %v", c.loadErr),
			"fix the file, or point `inventory:` in agent.yaml (or --inventory) at the inventory the KUMA installer used; `kuma-agent inventory check FILE` explains each problem")
	}
	if c.cluster == nil {
		return checks.Warnf(fmt.Sprintf("no inventory at %s: the hosts, ports and load-balancer checks need one", c.path),
			"copy the inventory the KUMA installer used (k0s.inventory.yml, distributed.inventory.yml, ...) or Acura's ha_env_file to /etc/kuma-agent/inventory.yml, or pass --inventory FILE")
	}
	res := checks.Okf(fmt.Sprintf("%s is in the %s cluster of %s (%d hosts) as %s",
		c.node.Name, c.cluster.Layout, c.path, len(c.cluster.Hosts), c.node.Roles))
	if c.node.Self == nil {
		msg := fmt.Sprintf("this node %q is not in the inventory %s", c.node.Name, c.path)
		remedy := "set node_name in agent.yaml to this host's inventory name, or fix `hostname -f` (KUMA requires them to be equal, case included)"
		if h := c.cluster.HostFold(c.node.Name); h != nil {
			msg = fmt.Sprintf("this node %q is in the inventory only as %q (case differs)", c.node.Name, h.Name)
		} else if c.cluster.Layout == cluster.LayoutAcura {
			// Acura's file lists only the nodes: the likeliest stranger is
			// the balancer.
			remedy = fmt.Sprintf("if this is Acura's load balancer, declare it in %s: a line `[lb]`, then `%s ansible_ssh_host=<IP>`; otherwise %s",
				c.cluster.Source+inventory.SupplementSuffix, c.node.Name, remedy)
		}
		res = checks.Critf(msg, remedy)
	}
	findings := inventory.Validate(c.cluster)
	for _, f := range findings {
		line := fmt.Sprintf("inventory %s: %s", f.Severity, f.Message)
		if f.Host != "" {
			line += " [" + f.Host + "]"
		}
		res.Details = append(res.Details, line)
	}
	switch inventory.Summary(findings) {
	case inventory.Error:
		if res.Status < checks.Crit {
			res.Status = checks.Crit
			res.Message = fmt.Sprintf("the inventory %s has errors that break an HA install", c.path)
		}
		res.Remedy = joinRemedy(res.Remedy, "run `kuma-agent inventory check "+c.path+"` for each finding and its fix")
	case inventory.Warning:
		if res.Status < checks.Warn {
			res.Status = checks.Warn
			res.Message = fmt.Sprintf("the inventory %s has warnings", c.path)
		}
		res.Remedy = joinRemedy(res.Remedy, "run `kuma-agent inventory check "+c.path+"` for each finding and its fix")
	}
	return res
}

func joinRemedy(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
