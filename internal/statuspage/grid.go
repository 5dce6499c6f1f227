package statuspage

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
)

// Grid is the reachability matrix: a row per node that probes (from), a
// column per node probed (to).
type Grid struct {
	Note    string // why there is no matrix, or why it is partial
	Columns []GridHead
	Rows    []GridRow
	// Failing lists every failing edge as a line (capped).
	Failing []string
}

// GridHead is a column's node: a short label, the full name as its title.
type GridHead struct{ Short, Full string }

// GridRow is one probing node.
type GridRow struct {
	From     string
	Answered bool
	Cells    []Cell
}

// Cell is one (from, to) pair. Class is one of the cell classes below.
type Cell struct {
	From, To, Class, Mark, Title string
}

// The cell classes, fixed here (the CSS colours them; fail is red).
const (
	cellSelf    = "self"    // from == to
	cellOK      = "ok"      // every port from must reach on to answered
	cellFail    = "fail"    // at least one of those ports failed
	cellUnknown = "unknown" // from did not answer the reachability query
	cellNone    = "none"    // from need not reach to (or no inventory says)
)

const (
	maxGridNodes = 64
	maxFailing   = 200
	reachCheck   = "cluster-reachability"
)

// buildGrid draws the latest measured reachability: the failing edges,
// which nodes answered (the check's Values), and which pairs must reach
// each other (the inventory's port matrix).
func buildGrid(in Input) Grid {
	if in.Measured == nil {
		return Grid{Note: "the reachability matrix is " + notMeasuredNote}
	}
	i := slices.IndexFunc(in.Measured, func(c clusterchecks.NamedResult) bool { return c.Name == reachCheck })
	if i < 0 {
		return Grid{Note: "the latest evaluation has no reachability check"}
	}
	rc := in.Measured[i]
	// pair -> the failing ports and reasons
	failing := map[[2]string][]string{}
	var g Grid
	for _, e := range rc.Edges {
		line := e.Port.String()
		if e.Port.Purpose != "" {
			line += " (" + e.Port.Purpose + ")"
		}
		line += ": " + cmp.Or(e.Reason, "failed")
		k := [2]string{e.From, e.To}
		failing[k] = append(failing[k], line)
		if len(g.Failing) < maxFailing {
			g.Failing = append(g.Failing, text(e.From+" -> "+e.To+" "+line))
		}
	}
	if n := len(rc.Edges); n > maxFailing {
		g.Failing = append(g.Failing, fmt.Sprintf("+%d more", n-maxFailing))
	}
	nodes, required := gridNodes(in, rc)
	if len(nodes) > maxGridNodes {
		g.Note = fmt.Sprintf("%d nodes: the matrix shows the first %d; every failing edge is listed below it", len(nodes), maxGridNodes)
		nodes = nodes[:maxGridNodes]
	}
	if len(nodes) == 0 {
		g.Note = "no node to draw"
		return g
	}
	shorts := shortNames(nodes)
	for i, n := range nodes {
		g.Columns = append(g.Columns, GridHead{Short: text(shorts[i]), Full: text(n)})
	}
	for _, from := range nodes {
		_, answered := rc.Values[from]
		row := GridRow{From: text(from), Answered: answered}
		for _, to := range nodes {
			c := Cell{From: text(from), To: text(to)}
			fails := failing[[2]string{from, to}]
			switch {
			case from == to:
				c.Class, c.Mark = cellSelf, "—"
			case len(fails) > 0: // whatever the matrix says: it was probed and failed
				c.Class, c.Mark = cellFail, fmt.Sprintf("✗ %d", len(fails))
				c.Title = text(from + " -> " + to + ": " + strings.Join(fails, "; "))
			case required != nil && !required[[2]string{from, to}]:
				c.Class, c.Mark, c.Title = cellNone, "", text(from+" need not reach "+to)
			case !answered:
				c.Class, c.Mark, c.Title = cellUnknown, "?", text(from+" did not answer the reachability query")
			case required == nil:
				c.Class, c.Mark, c.Title = cellNone, "", "no inventory: no port matrix to probe"
			default:
				c.Class, c.Mark, c.Title = cellOK, "✓", text(from+" reaches every port it needs on "+to)
			}
			row.Cells = append(row.Cells, c)
		}
		g.Rows = append(g.Rows, row)
	}
	return g
}

// gridNodes are the matrix's nodes: the inventory's hosts in its order,
// then any other node the measurement names, sorted; and the pairs the
// port matrix says must reach each other (nil without an inventory).
func gridNodes(in Input, rc clusterchecks.NamedResult) ([]string, map[[2]string]bool) {
	var nodes []string
	seen := map[string]bool{}
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			nodes = append(nodes, n)
		}
	}
	var required map[[2]string]bool
	if in.Inventory != nil {
		required = map[[2]string]bool{}
		for _, h := range in.Inventory.Hosts {
			add(h.Name)
			for _, t := range cluster.ReachTargets(in.Inventory, h, nil) {
				required[[2]string{h.Name, t.Host.Name}] = true
			}
		}
	}
	var extra []string
	for n := range rc.Values {
		extra = append(extra, n)
	}
	for _, e := range rc.Edges {
		extra = append(extra, e.From, e.To)
	}
	if in.Inventory == nil {
		for _, m := range in.Members {
			extra = append(extra, m.Name)
		}
	}
	slices.Sort(extra)
	for _, n := range extra {
		add(n)
	}
	return nodes, required
}

// shortNames are the nodes' first DNS labels, or the full names where
// two first labels are the same.
func shortNames(nodes []string) []string {
	count := map[string]int{}
	first := make([]string, len(nodes))
	for i, n := range nodes {
		first[i], _, _ = strings.Cut(n, ".")
		count[first[i]]++
	}
	for i, n := range nodes {
		if count[first[i]] > 1 {
			first[i] = n
		}
	}
	return first
}
