package clusterchecks

import (
	"fmt"
	"slices"

	"github.com/kuma-agent/kuma-agent/checks"
)

// MajorityCheckName is the check that says whether the evaluating node sees
// a majority of the cluster alive. An evaluator whose view fails it is in a
// minority (or most of the cluster is down): it must not report the cluster
// healthy nor clear what the majority side raised.
const MajorityCheckName = "cluster-majority"

// MajorityCheck counts the nodes alive in the mesh against the cluster's
// size: the inventory's hosts (without an inventory, every member that has
// not left). Fewer than a majority alive is critical: this node cannot tell
// a dead majority from its own partition, and either way its view is not the
// cluster's.
func MajorityCheck(v View) checks.Result { return majority(v, &finding{}) }

func majority(v View, f *finding) checks.Result {
	var all []string
	if v.Inventory != nil {
		for _, h := range v.Inventory.Hosts {
			all = append(all, h.Name)
		}
	} else {
		for _, m := range v.Members {
			if m.Status != StatusLeft {
				all = append(all, m.Name)
			}
		}
	}
	all = sortedSet(all)
	alive := map[string]bool{v.Self: v.Self != ""} // the evaluator is alive by definition
	for _, m := range v.Members {
		if m.Status == StatusAlive {
			alive[m.Name] = true
		}
	}
	k := 0
	var missing []string
	for _, n := range all {
		if alive[n] {
			k++
		} else {
			missing = append(missing, n)
		}
	}
	n := len(all)
	f.values = map[string]float64{"alive": float64(k), "nodes": float64(n)}
	if n == 0 {
		return checks.Unknownf("no cluster nodes known: no inventory and no mesh members", "Point `inventory` in /etc/kuma-agent/agent.yaml at the cluster's inventory file.")
	}
	if 2*k > n {
		return checks.Okf(fmt.Sprintf("sees %d of %d nodes alive (a majority)", k, n))
	}
	f.nodes = slices.Clone(missing)
	details := make([]string, 0, len(missing))
	for _, m := range missing {
		details = append(details, m+": not alive in this node's mesh view")
	}
	return checks.Critf(fmt.Sprintf("minority: sees %d of %d nodes alive; this view cannot tell the cluster healthy", k, n),
		"Either most nodes are down or this node is cut off from them: check the network between this node and "+nameList(missing)+
			" (`kuma-agent members`, the gossip port mesh.port over TCP and UDP). Findings raised by the majority are not cleared from here.",
		details...)
}
