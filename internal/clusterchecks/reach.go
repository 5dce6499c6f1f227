package clusterchecks

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/kuma-agent/kuma-agent/checks"
)

// ReachabilityCheck assembles the matrix every node probed from its side:
// which (from, to, port) edges of the port matrix fail. A blocked edge
// (timeout, no route) is critical: a firewall drops the traffic. An edge
// refused by the destination only proves its service is absent (the path
// is open; the destination's own ports check owns that), a warning. Nodes
// that did not answer are listed as unknown.
func ReachabilityCheck(v View) checks.Result { return reach(v, &finding{}) }

// reach is the check; it fills f's nodes and values as it goes (see findingOf).
func reach(v View, f *finding) checks.Result {
	silent := silentDetails(v, "reachability", func(n string) bool { _, ok := v.Reach[n]; return ok })
	if len(v.Reach) == 0 {
		return checks.Unknownf("no node answered the reachability query",
			"Make sure kuma-agent runs on the cluster nodes and the gossip port is open between them.", silent...)
	}
	var edges []Edge
	f.values = make(map[string]float64, len(v.Reach))
	for node, es := range v.Reach {
		f.values[node] = float64(len(es)) // as the node reported them (duplicates are its own)
		for _, e := range es {
			if e.From == "" { // the answering node probed from itself
				e.From = node
			}
			edges = append(edges, e)
		}
	}
	if len(edges) == 0 {
		return checks.Okf(fmt.Sprintf("every probed port answers (%s reported)", plural(len(v.Reach), "node", "nodes")), silent...)
	}
	slices.SortFunc(edges, func(a, b Edge) int {
		return cmp.Or(strings.Compare(a.From, b.From), strings.Compare(a.To, b.To),
			cmp.Compare(a.Port.Number, b.Port.Number), strings.Compare(string(a.Port.Proto), string(b.Port.Proto)))
	})
	edges = slices.CompactFunc(edges, func(a, b Edge) bool {
		return a.From == b.From && a.To == b.To && a.Port.Number == b.Port.Number && a.Port.Proto == b.Port.Proto
	})

	f.edges = edges

	details := make([]string, 0, len(edges)+len(silent))
	var pairs []string
	blocked := 0
	toPorts := map[string][]string{} // destination -> ports to open there
	for i, e := range edges {
		details = append(details, edgeLine(e))
		if !e.Refused {
			blocked++
		}
		f.nodes = append(f.nodes, e.From, e.To)
		if i == 0 || e.From != edges[i-1].From || e.To != edges[i-1].To {
			pairs = append(pairs, e.From+" -> "+e.To)
		}
		if p := e.Port.String(); !slices.Contains(toPorts[e.To], p) {
			toPorts[e.To] = append(toPorts[e.To], p)
		}
	}
	details = append(details, silent...)

	dests := make([]string, 0, len(toPorts))
	for d := range toPorts {
		dests = append(dests, d)
	}
	slices.Sort(dests)
	var fixes []string
	for _, d := range dests {
		var cmds []string
		for _, p := range toPorts[d] {
			cmds = append(cmds, "--add-port="+p)
		}
		fixes = append(fixes, fmt.Sprintf("On %s: make sure the service listens (`ss -ltnup`) and open %s (`firewall-cmd --permanent %s && firewall-cmd --reload`, or the ufw/iptables equivalent)",
			d, strings.Join(toPorts[d], ", "), strings.Join(cmds, " ")))
	}
	remedy := "A refused connection means nothing listens on the destination; a timeout means a firewall drops it (on the destination or between the hosts). " +
		strings.Join(fixes, ". ") + "."
	msg := fmt.Sprintf("%s between %s: %s", plural(len(edges), "failing edge", "failing edges"), plural(len(pairs), "node pair", "node pairs"), nameList(pairs))
	if blocked == 0 {
		return checks.Warnf(msg+" (all refused: the paths are open, the services do not listen)", remedy, details...)
	}
	if blocked < len(edges) {
		msg += fmt.Sprintf(" (%d blocked, %d refused)", blocked, len(edges)-blocked)
	}
	return checks.Critf(msg, remedy, details...)
}

// edgeLine is "from -> to port/proto (purpose): reason".
func edgeLine(e Edge) string {
	s := e.From + " -> " + e.To + " " + e.Port.String()
	if e.Port.Purpose != "" {
		s += " (" + e.Port.Purpose + ")"
	}
	return s + ": " + cmp.Or(e.Reason, "failed")
}
