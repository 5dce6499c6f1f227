package corefailover

import (
	"slices"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
)

// Paths is each inventory host's PathVerdict from the reachability answers
// of a (believed) view: for every member that answered, the TCP ports of the
// port matrix it probes on the host, and how many of them it reported
// failing. A member that did not answer neither clears nor condemns.
func Paths(v clusterchecks.View, o cluster.Overrides) map[string]PathVerdict {
	out := map[string]PathVerdict{}
	if v.Inventory == nil {
		return out
	}
	for from, edges := range v.Reach {
		self := v.Inventory.Host(from)
		if self == nil {
			continue
		}
		failed := map[string]bool{}
		for _, e := range edges {
			failed[e.To+"|"+e.Port.String()] = true
		}
		counted := map[string]bool{}
		for _, t := range cluster.ReachTargets(v.Inventory, self, o) {
			if t.Port.Proto != cluster.TCP {
				// Listed, never probed (the reach probes are TCP): a path
				// no member can report failing is no evidence either way.
				continue
			}
			p := out[t.Host.Name]
			p.Probed++
			if failed[t.Host.Name+"|"+t.Port.String()] {
				p.Failed++
			}
			if !counted[t.Host.Name] {
				counted[t.Host.Name] = true
				p.Probers = append(p.Probers, from)
			}
			out[t.Host.Name] = p
		}
	}
	for n, p := range out {
		slices.Sort(p.Probers)
		out[n] = p
	}
	return out
}
