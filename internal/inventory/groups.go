package inventory

import (
	"cmp"
	"slices"
	"strings"
)

// groupResolver answers, for a host, the groups it belongs to as Ansible
// sees them: the groups it is listed in, all their ancestors, and all.
type groupResolver struct {
	groups map[string]*yamlGroup
	depth  map[string]int
	anc    map[string][]string // a group and its ancestors, all excluded
}

func newGroupResolver(groups map[string]*yamlGroup) *groupResolver {
	return &groupResolver{groups: groups, depth: map[string]int{"all": 0}, anc: map[string][]string{}}
}

// depthOf is Ansible's group depth: all is 0, a group without a parent is
// a child of all (1), any other is one below its deepest parent. The
// parser keeps the graph free of loops.
func (r *groupResolver) depthOf(name string) int {
	if d, ok := r.depth[name]; ok {
		return d
	}
	d := 1
	if g := r.groups[name]; g != nil {
		for _, p := range g.parents {
			d = max(d, r.depthOf(p)+1)
		}
	}
	r.depth[name] = d
	return d
}

// ancestors lists name and every group above it (all excluded).
func (r *groupResolver) ancestors(name string) []string {
	if a, ok := r.anc[name]; ok {
		return a
	}
	out := []string{}
	seen := map[string]bool{}
	add := func(a string) {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	if name != "all" {
		add(name)
	}
	if g := r.groups[name]; g != nil {
		for _, p := range g.parents {
			for _, a := range r.ancestors(p) {
				add(a)
			}
		}
	}
	r.anc[name] = out
	return out
}

// ancestry is every group of a host listed in direct, in the order Ansible
// applies their variables: by depth, then ansible_group_priority (default
// 1), then name; all first.
func (r *groupResolver) ancestry(direct []string) []*yamlGroup {
	names := []string{"all"}
	seen := map[string]bool{"all": true}
	for _, d := range direct {
		for _, a := range r.ancestors(d) {
			if !seen[a] {
				seen[a] = true
				names = append(names, a)
			}
		}
	}
	out := make([]*yamlGroup, 0, len(names))
	for _, n := range names {
		if g := r.groups[n]; g != nil {
			out = append(out, g)
		}
	}
	slices.SortStableFunc(out, func(a, b *yamlGroup) int {
		return cmp.Or(cmp.Compare(r.depthOf(a.name), r.depthOf(b.name)),
			cmp.Compare(priority(a), priority(b)), strings.Compare(a.name, b.name))
	})
	return out
}

// priority is a group's ansible_group_priority (1 when unset or not a number).
func priority(g *yamlGroup) int {
	if p, ok := g.vars["ansible_group_priority"].(int); ok {
		return p
	}
	return 1
}
