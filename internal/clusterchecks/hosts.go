package clusterchecks

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/kuma-agent/kuma-agent/checks"
)

// HostsCheck compares /etc/hosts across nodes: the KUMA installer needs
// every cluster machine listed in /etc/hosts of every machine, and a name
// mapped differently on two nodes makes them disagree about who is who.
// A differing address is critical; a name missing on some nodes is a
// warning (DNS may still resolve it). The expected address is the
// inventory's when it has one, else the mapping most nodes agree on.
func HostsCheck(v View) checks.Result { return hosts(v, &finding{}) }

// hosts is the check; it fills f's nodes and values as it goes (see findingOf).
func hosts(v View, f *finding) checks.Result {
	nodes := make([]string, 0, len(v.Hosts))
	for n := range v.Hosts {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	silent := silentDetails(v, "hosts", func(n string) bool { _, ok := v.Hosts[n]; return ok })
	if len(nodes) == 0 {
		return checks.Unknownf("no node answered the hosts query",
			"Make sure kuma-agent runs on the cluster nodes and the gossip port is open between them.", silent...)
	}

	byName := groupMappings(v, nodes)
	names := hostNames(v, byName)
	worst := checks.OK
	var bad, details, fixes []string
	for _, name := range names {
		nf := judgeName(v, name, nodes, byName[name])
		if nf.status == checks.OK {
			continue
		}
		worst = checks.Worst(worst, nf.status)
		bad = append(bad, name)
		details = append(details, nf.detail)
		fixes = append(fixes, nf.fixes...)
		f.nodes = append(f.nodes, nf.nodes...)
	}
	details = append(details, silent...)
	if worst == checks.OK {
		return checks.Okf(fmt.Sprintf("%s map alike in /etc/hosts on %s", plural(len(names), "name", "names"), plural(len(nodes), "node", "nodes")), details...)
	}
	what := "missing on some nodes"
	if worst == checks.Crit {
		what = "mapped differently (or missing) on some nodes"
	}
	return checks.Result{Status: worst,
		Message: fmt.Sprintf("/etc/hosts disagree: %s %s", nameList(bad), what),
		Remedy:  "Edit /etc/hosts so that every node maps every cluster name alike: " + strings.Join(fixes, "; ") + ".",
		Details: details}
}

// hostNames is every name to compare: the inventory's and any other name
// a node reported, sorted.
func hostNames(v View, byName map[string]map[groupKey]*addrGroup) []string {
	out := make([]string, 0, len(byName))
	for n := range byName {
		out = append(out, n)
	}
	if v.Inventory != nil {
		for _, h := range v.Inventory.Hosts {
			if _, ok := byName[h.Name]; !ok {
				out = append(out, h.Name)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// groupKey identifies an address set without building a string for the
// common case of one address (a 600-node cluster has 360000 mappings).
type groupKey struct {
	one  netip.Addr // the address when there is exactly one
	many string     // addrKey of the sorted set when there are several
}

// groupMappings groups, for each name any node reported, the nodes by the
// address set they map it to. nodes is sorted, so every group's nodes are.
func groupMappings(v View, nodes []string) map[string]map[groupKey]*addrGroup {
	byName := map[string]map[groupKey]*addrGroup{}
	for _, n := range nodes {
		for name, addrs := range v.Hosts[n] {
			groups := byName[name]
			if groups == nil {
				groups = map[groupKey]*addrGroup{}
				byName[name] = groups
			}
			var k groupKey
			switch len(addrs) {
			case 0:
			case 1:
				k.one = addrs[0]
			default:
				addrs = slices.Clone(addrs)
				slices.SortFunc(addrs, netip.Addr.Compare)
				addrs = slices.Compact(addrs)
				if len(addrs) == 1 {
					k.one = addrs[0]
				} else {
					k.many = addrKey(addrs)
				}
			}
			g := groups[k]
			if g == nil {
				g = &addrGroup{addrs: slices.Clone(addrs), key: addrKey(addrs)}
				groups[k] = g
			}
			g.nodes = append(g.nodes, n)
		}
	}
	return byName
}

type nameFinding struct {
	status checks.Status
	detail string
	fixes  []string
	nodes  []string // the nodes whose mapping is not the expected one
}

// addrGroup is the nodes that map a name to the same address set.
type addrGroup struct {
	addrs []netip.Addr // sorted; empty = not listed
	key   string
	nodes []string
}

func judgeName(v View, name string, nodes []string, byKey map[groupKey]*addrGroup) nameFinding {
	groups := make(map[string]*addrGroup, len(byKey)+1)
	reported := 0
	for _, g := range byKey {
		groups[g.key] = g
		reported += len(g.nodes)
	}
	if reported < len(nodes) {
		// Nodes whose view lacks the name do not list it.
		g := groups[""]
		if g == nil {
			g = &addrGroup{}
			groups[""] = g
		}
		for _, n := range nodes {
			if _, ok := v.Hosts[n][name]; !ok {
				g.nodes = append(g.nodes, n)
			}
		}
		slices.Sort(g.nodes)
	}

	want, ok := expectedAddrs(v, name, groups)
	if len(groups) == 1 {
		for key := range groups {
			if key != "" && (!ok || key == addrKey(want)) {
				return nameFinding{} // every node agrees, with the inventory too
			}
		}
	}

	list := make([]*addrGroup, 0, len(groups))
	for _, g := range groups {
		list = append(list, g)
	}
	// Listed mappings first, most nodes first: the detail reads as "most
	// say X, these say Y, these have nothing".
	slices.SortFunc(list, func(a, b *addrGroup) int {
		return cmp.Or(cmp.Compare(unlisted(a), unlisted(b)),
			cmp.Compare(len(b.nodes), len(a.nodes)), strings.Compare(a.key, b.key))
	})
	var parts []string
	f := nameFinding{}
	listed := 0
	for _, g := range list {
		if len(g.addrs) == 0 {
			parts = append(parts, "not listed on "+nameList(g.nodes))
			f.status = checks.Worst(f.status, checks.Warn)
		} else {
			listed++
			parts = append(parts, g.key+" on "+nameList(g.nodes))
		}
	}
	if listed > 1 || (listed == 1 && ok && groups[addrKey(want)] == nil) {
		f.status = checks.Crit
	}
	f.detail = name + ": " + strings.Join(parts, "; ")
	if ok {
		f.detail += " (expected " + addrKey(want) + ")"
	}

	if !ok {
		// No inventory address and no majority: name the choice.
		f.fixes = append(f.fixes, fmt.Sprintf("decide which address %s has and map it alike on every node", name))
		for _, g := range list {
			f.nodes = append(f.nodes, g.nodes...)
		}
		return f
	}
	for _, g := range list {
		if g.key != addrKey(want) {
			f.nodes = append(f.nodes, g.nodes...)
		}
	}
	lines := make([]string, len(want))
	for i, a := range want {
		lines[i] = "`" + a.String() + " " + name + "`"
	}
	line := strings.Join(lines, " and ")
	for _, g := range list {
		switch {
		case g.key == addrKey(want):
		case len(g.addrs) == 0:
			f.fixes = append(f.fixes, fmt.Sprintf("on %s add %s", strings.Join(g.nodes, ", "), line))
		default:
			f.fixes = append(f.fixes, fmt.Sprintf("on %s replace the line mapping %s to %s with %s",
				strings.Join(g.nodes, ", "), name, g.key, line))
		}
	}
	return f
}

// expectedAddrs is the inventory's address for name when it is an IP, else
// the listed mapping held by strictly more nodes than any other.
func expectedAddrs(v View, name string, groups map[string]*addrGroup) ([]netip.Addr, bool) {
	if v.Inventory != nil {
		if h := v.Inventory.Host(name); h != nil && h.IP.IsValid() {
			return []netip.Addr{h.IP}, true
		}
	}
	var best *addrGroup
	tie := false
	for _, g := range groups {
		if len(g.addrs) == 0 {
			continue
		}
		switch {
		case best == nil || len(g.nodes) > len(best.nodes):
			best, tie = g, false
		case len(g.nodes) == len(best.nodes):
			tie = true
		}
	}
	if best == nil || tie {
		return nil, false
	}
	return best.addrs, true
}

// unlisted sorts "not listed" after the listed mappings.
func unlisted(g *addrGroup) int {
	if len(g.addrs) == 0 {
		return 1
	}
	return 0
}

func addrKey(addrs []netip.Addr) string {
	var b strings.Builder
	for i, a := range addrs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(a.String())
	}
	return b.String()
}
