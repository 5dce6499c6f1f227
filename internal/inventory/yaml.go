package inventory

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/yamlstrict"
)

// Limits of the YAML walk, the inventory's yamlstrict.Options. yaml.v3 does
// not expand aliases when decoding into a yaml.Node, so the walk below is
// what would blow up on an alias bomb; every alias it follows and every node
// it visits is counted by the Doc's Resolve.
const (
	// maxAliases is far above what a hand-written inventory uses (anchors
	// are rare in KUMA inventories) and far below a billion-laughs document.
	maxAliases = 100
	// maxDepth bounds recursion: real inventories nest groups 3-4 deep.
	maxDepth = 64
	// maxVisits bounds the total work of the walk, aliases included.
	maxVisits = 2 << 20
	// maxNodes bounds the node tree yaml.v3 builds (about 150 bytes per
	// node), estimated before parsing from the separators in the text.
	maxNodes = 1 << 19
	// maxGroups bounds the groups of one file: a KUMA inventory has about
	// 15, and resolving them costs groups x depth.
	maxGroups = 1000
)

// errBudget marks a document refused for its shape rather than its syntax.
var errBudget = yamlstrict.ErrBudget

// hostVarsAddress are the variables naming a host's address, by priority.
var hostVarsAddress = []string{"ansible_host", "ip"}

// groupSections are the keys a group may hold; Ansible skips any other.
var groupSections = map[string]bool{"vars": true, "children": true, "hosts": true}

// sectionTypos are other keys' likely meaning, for the unexpected-key hint.
var sectionTypos = map[string]string{
	"host": "hosts", "child": "children", "var": "vars", "variables": "vars",
	"group": "children", "groups": "children", "Hosts": "hosts", "Children": "children", "Vars": "vars",
}

// yamlGroup is one Ansible group: groups are global, so every definition
// of a name (at the top level or under any children:) adds to one group.
type yamlGroup struct {
	name     string
	vars     map[string]any
	children []string
	parents  []string
}

// hostDecl is one mention of a host under some group's hosts:.
type hostDecl struct {
	name  string
	line  int
	group string
	vars  map[string]any
}

type yamlParser struct {
	file     string
	doc      *yamlstrict.Doc
	lines    []string
	memo     map[*yaml.Node]any // converted anchored values, shared by aliases
	groups   map[string]*yamlGroup
	decls    []hostDecl
	problems []cluster.Problem
	expanded int // host names added by [a:b] ranges, against maxExpanded
}

// entry is one key of a mapping after YAML merge keys and duplicates were
// resolved as Ansible's loader resolves them.
type entry struct {
	key     string
	keyNode *yaml.Node
	val     *yaml.Node
}

// parseYAML resolves a KUMA installer inventory as Ansible's YAML inventory
// plugin reads it: top-level groups (all, kuma, kuma_k0s, ...) with vars,
// children (at any depth; a group named in several places is one group)
// and hosts (a mapping, one name, or nothing). Variables are inherited as
// Ansible does: all < groups by depth, then name < host. A host listed in
// several groups gets the roles of all of them and of their ancestors.
//
// Mistakes Ansible reads past, or that leave the rest of the file
// readable, become Cluster.Problems so that one does not hide the rest;
// only a file that cannot be read as YAML at all (syntax, several
// documents, a top-level list, the size, alias and depth budgets) is an
// error.
func parseYAML(file yamlstrict.Options, name string, data []byte) (*cluster.Cluster, error) {
	doc, err := file.Parse(name, data)
	if err != nil {
		return nil, err
	}
	if doc.Body == nil {
		return nil, errAt(name, 0, "", "empty inventory")
	}
	p := &yamlParser{file: name, doc: doc, memo: map[*yaml.Node]any{}, groups: map[string]*yamlGroup{},
		lines: strings.Split(string(data), "\n")}
	p.group("all")
	top, err := p.entries(doc.Body, "", "", 1)
	if err != nil {
		return nil, err
	}
	for _, e := range top {
		p.group(e.key)
		if err := p.checkGroups(e.keyNode.Line); err != nil {
			return nil, err
		}
		if err := p.walkGroup(e.val, e.key, 1); err != nil {
			return nil, err
		}
	}
	return p.cluster(), nil
}

func (p *yamlParser) problem(warning bool, code string, line int, host, remedy, format string, args ...any) {
	p.problems = append(p.problems, cluster.Problem{Warning: warning, Code: code, Line: line, Host: host,
		Remedy: remedy, Message: fmt.Sprintf(format, args...)})
}

// group returns the group called name, created on first mention.
func (p *yamlParser) group(name string) *yamlGroup {
	g := p.groups[name]
	if g == nil {
		g = &yamlGroup{name: name}
		p.groups[name] = g
	}
	return g
}

// checkGroups refuses a file with more groups than an inventory plausibly
// has: the loop check costs a walk over the groups per child.
func (p *yamlParser) checkGroups(line int) error {
	if len(p.groups) <= maxGroups {
		return nil
	}
	return yamlstrict.Errors{{File: p.file, Line: line, Err: errBudget,
		Msg: fmt.Sprintf("%s: more than %d groups", errBudget, maxGroups)}}
}

func (p *yamlParser) walkGroup(n *yaml.Node, name string, depth int) error {
	if depth > maxDepth {
		return p.tooDeep(n, name)
	}
	n, err := p.resolve(n)
	if err != nil {
		return err
	}
	if isNull(n) {
		return nil // an empty group, as the installer templates list them
	}
	if n.Kind != yaml.MappingNode {
		p.problem(false, "group-not-mapping", n.Line, "",
			"write the group as a mapping: `"+name+":` then `hosts:` (or children:, vars:) indented under it",
			"group `%s` is a %s, not a mapping of vars, children and hosts: Ansible skips it with a warning, so nothing in it is installed",
			name, yamlstrict.KindName(n))
		return nil
	}
	parts, err := p.entries(n, name, "", depth+1)
	if err != nil {
		return err
	}
	g := p.group(name)
	for _, e := range parts {
		if !groupSections[e.key] {
			hint := "remove it, or move what is under it into hosts:, children: or vars:"
			if s, ok := sectionTypos[e.key]; ok {
				hint = "rename it to " + s + ":"
			}
			p.problem(true, "unexpected-key", e.keyNode.Line, "", hint,
				"`%s.%s`: a group holds only vars, children and hosts; Ansible skips `%s` with a warning, so nothing under it is read",
				name, e.key, e.key)
			continue
		}
		v, err := p.resolve(e.val)
		if err != nil {
			return err
		}
		if isNull(v) {
			continue
		}
		where := name + "." + e.key
		if v.Kind != yaml.MappingNode && !isString(v) {
			p.problem(false, "section-not-mapping", v.Line, "", sectionRemedy[e.key],
				"`%s` is a %s: Ansible refuses the file (%s must be a mapping)", where, kindOf(v), e.key)
			continue
		}
		switch e.key {
		case "vars":
			var gv map[string]any
			if isString(v) {
				gv = map[string]any{v.Value: nil} // Ansible's reading of a string
			} else if gv, err = p.mappingValue(v, where, "", depth+1); err != nil {
				return err
			}
			g.vars = overlay(g.vars, gv)
		case "children":
			if err := p.walkChildren(v, name, depth+1); err != nil {
				return err
			}
		case "hosts":
			if err := p.walkHosts(v, name, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

var sectionRemedy = map[string]string{
	"vars":     "write vars as `name: value` lines indented under vars:",
	"children": "write each child group as a `name:` line indented under children:",
	"hosts":    "write each host as a `name:` line (with its variables indented under it) under hosts:",
}

func (p *yamlParser) walkChildren(n *yaml.Node, parent string, depth int) error {
	if isString(n) {
		if name, ok := p.oneName(n, parent, "children", "group"); ok {
			p.addChild(parent, name, n.Line)
		}
		return p.checkGroups(n.Line)
	}
	kids, err := p.entries(n, parent+".children", "", depth)
	if err != nil {
		return err
	}
	for _, e := range kids {
		if !p.addChild(parent, e.key, e.keyNode.Line) {
			continue // a loop: Ansible refuses the file, and walking it would not end
		}
		if err := p.checkGroups(e.keyNode.Line); err != nil {
			return err
		}
		if err := p.walkGroup(e.val, e.key, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// addChild makes child a child of parent, unless that closes a loop.
func (p *yamlParser) addChild(parent, child string, line int) bool {
	if child == "all" || child == parent || p.descends(child, parent) {
		p.problem(false, "children-loop", line, "",
			"remove `"+child+"` from the children of `"+parent+"`",
			"group `%s` under `%s.children` makes a loop (`%s` is already above `%s`): Ansible refuses the file",
			child, parent, child, parent)
		return false
	}
	pg, cg := p.group(parent), p.group(child)
	for _, c := range pg.children {
		if c == child {
			return true
		}
	}
	pg.children = append(pg.children, child)
	cg.parents = append(cg.parents, parent)
	return true
}

// descends reports whether group to is below group from.
func (p *yamlParser) descends(from, to string) bool {
	seen := map[string]bool{}
	stack := []string{from}
	for len(stack) > 0 {
		g := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if g == to {
			return true
		}
		if seen[g] {
			continue
		}
		seen[g] = true
		if pg := p.groups[g]; pg != nil {
			stack = append(stack, pg.children...)
		}
	}
	return false
}

func (p *yamlParser) walkHosts(n *yaml.Node, group string, depth int) error {
	if isString(n) {
		if name, ok := p.oneName(n, group, "hosts", "host"); ok {
			p.addHosts(name, n.Line, group, nil)
		}
		return nil
	}
	hosts, err := p.entriesDup(n, group+".hosts", "", depth, true)
	if err != nil {
		return err
	}
	for _, e := range hosts {
		line := e.keyNode.Line
		if strings.TrimSpace(e.key) == "" {
			p.problem(false, "host-name-empty", line, "", "write the host's name before the ':'",
				"`%s.hosts` has a host with an empty name", group)
			continue
		}
		hv, err := p.resolve(e.val)
		if err != nil {
			return err
		}
		var vars map[string]any
		switch {
		case isNull(hv):
		case hv.Kind == yaml.MappingNode:
			v, err := p.value(hv, "", e.key, depth+1)
			if err != nil {
				return err
			}
			vars, _ = v.(map[string]any)
			p.nestedSections(vars, e.key, line)
		default:
			p.problem(false, "host-vars-not-mapping", hv.Line, e.key,
				"put each variable on its own `name: value` line indented under the host (e.g. ip: 10.0.0.1)",
				"the host's variables are a %s, not a mapping: Ansible refuses the file", kindOf(hv))
		}
		p.addHosts(e.key, line, group, vars)
	}
	return nil
}

// nestedSections warns about a host entry written like a group: Ansible
// makes `vars:` under a host one variable called vars, so what is inside
// it (ip, ansible_host, ...) is not the host's.
func (p *yamlParser) nestedSections(vars map[string]any, host string, line int) {
	for _, k := range []string{"vars", "hosts", "children"} {
		if _, ok := vars[k].(map[string]any); ok {
			p.problem(true, "host-vars-nested", line, host,
				"put the host's variables directly under the host, without `"+k+":`",
				"`%s:` under a host is one variable named %s for Ansible: the variables inside it are not the host's", k, k)
		}
	}
}

// oneName reads a string given where a mapping of names is expected, which
// Ansible takes as one name. Several names in it (lines without their
// trailing ':' fold into one string) are a problem: Ansible would make one
// host or group named by all of them.
func (p *yamlParser) oneName(n *yaml.Node, group, section, what string) (string, bool) {
	fields := strings.Fields(n.Value)
	where := group + "." + section
	switch {
	case len(fields) == 0:
		p.problem(false, what+"-name-empty", n.Line, "", "write the "+what+"'s name, or nothing, after "+section+":",
			"`%s` is an empty string: Ansible makes it one %s with an empty name", where, what)
		return "", false
	case len(fields) == 1:
		return fields[0], true
	}
	consequence := "one host whose name is the %d names joined by spaces, which the installer cannot reach"
	if what == "group" {
		consequence = "one group whose name is the %d names joined by spaces, with no hosts"
	}
	if p.oneNamePerLine(n.Line, fields) {
		p.problem(false, "names-folded", n.Line, "",
			"end each "+what+" line with ':' ("+fields[0]+":)",
			"`%s` is one string of %d names: each %s line needs a trailing ':' (Ansible makes it "+consequence+")",
			where, len(fields), what, len(fields))
	} else {
		p.problem(false, "names-folded", n.Line, "",
			"write one `name:` line per "+what+", indented under "+section+":",
			"`%s` is one string of %d names, %q: Ansible makes it "+consequence,
			where, len(fields), n.Value, len(fields))
	}
	return "", false
}

// oneNamePerLine reports whether names are written one per line from line
// on: a list of hosts whose lines lack the trailing ':'.
func (p *yamlParser) oneNamePerLine(line int, names []string) bool {
	for i, name := range names {
		j := line - 1 + i
		if j < 0 || j >= len(p.lines) || strings.TrimSpace(p.lines[j]) != name {
			return false
		}
	}
	return true
}

// addHosts records a host key of group (a name, a range, name:port).
func (p *yamlParser) addHosts(pattern string, line int, group string, vars map[string]any) {
	names, port, err := expandHostPattern(pattern, maxExpanded-p.expanded)
	if err != nil {
		p.problem(false, "host-range-invalid", line, "", "write the range as [begin:end] or [begin:end:step], e.g. kuma-w[1:3].example.com",
			"%v", err)
		return
	}
	if len(names) > 1 {
		p.expanded += len(names)
	}
	if port != "" {
		vars = overlay(vars, map[string]any{"ansible_port": port})
	}
	for _, name := range names {
		p.decls = append(p.decls, hostDecl{name: name, line: line, group: group, vars: vars})
	}
}

// cluster resolves the groups and host declarations into hosts.
func (p *yamlParser) cluster() *cluster.Cluster {
	r := newGroupResolver(p.groups)
	type acc struct {
		host   *cluster.Host
		direct []string
		vars   map[string]any
	}
	byName := map[string]*acc{}
	var order []*acc
	for _, d := range p.decls {
		a := byName[d.name]
		if a == nil {
			a = &acc{host: &cluster.Host{Name: d.name, Line: d.line}, vars: map[string]any{}}
			byName[d.name] = a
			order = append(order, a)
		}
		// Every declaration is recorded, a repeat in one group included: it
		// is a likely copy-paste mistake that Validate reports.
		a.host.Groups = append(a.host.Groups, d.group)
		a.direct = append(a.direct, d.group)
		for k, v := range d.vars {
			a.vars[k] = v // a later declaration's variable wins, as in Ansible
		}
	}
	c := &cluster.Cluster{Hosts: make([]*cluster.Host, 0, len(order)), Problems: p.problems}
	var facts layoutFacts
	if all := p.groups["all"]; all != nil {
		facts.deployToK8s = truthy(all.vars["deploy_to_k8s"])
	}
	for _, a := range order {
		h := a.host
		groups := r.ancestry(a.direct)
		for _, g := range groups {
			if ro, ok := groupRoles[g.name]; ok {
				h.Roles = h.Roles.Add(ro)
			}
			if g.name == k0sGroup {
				facts.k0sHosts = true
			}
		}
		vars := map[string]any{}
		for _, g := range groups {
			for k, v := range g.vars {
				vars[k] = v
			}
		}
		h.Vars = overlay(vars, a.vars)
		h.Address, h.IP = hostAddress(h.Vars)
		c.Hosts = append(c.Hosts, h)
	}
	c.Layout = detectLayout(c.Hosts, facts)
	return c
}

// hostAddress is the first of ansible_host, ip that is set and not the
// unspecified placeholder (0.0.0.0, ::), as written, and its IP if it is
// one.
func hostAddress(vars map[string]any) (string, netip.Addr) {
	for _, k := range hostVarsAddress {
		v, ok := vars[k]
		if !ok || v == nil {
			continue
		}
		s := scalarString(v)
		if s == "" {
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return s, netip.Addr{}
		}
		if isPlaceholder(ip) {
			continue
		}
		return s, ip
	}
	return "", netip.Addr{}
}

// resolve follows an alias, counting it against the budget.
func (p *yamlParser) resolve(n *yaml.Node) (*yaml.Node, error) { return p.doc.Resolve(n) }

func (p *yamlParser) tooDeep(n *yaml.Node, key string) error { return p.doc.TooDeep(n, key) }

// entries reads a mapping as Ansible's YAML loader does: merge keys (<<)
// fill in keys not given (earlier merged mappings first), and a key given
// twice keeps its first place and its last value (a problem: what the
// first said is lost). where names the mapping in messages; host, when
// set, is the host whose variables these are.
func (p *yamlParser) entries(n *yaml.Node, where, host string, depth int) ([]entry, error) {
	return p.entriesDup(n, where, host, depth, false)
}

// entriesDup is entries, with every repeated key kept when keepDups (a
// hosts: mapping, where a host listed twice is the rules' to report).
func (p *yamlParser) entriesDup(n *yaml.Node, where, host string, depth int, keepDups bool) ([]entry, error) {
	if depth > maxDepth {
		return nil, p.tooDeep(n, where)
	}
	n, err := p.resolve(n)
	if err != nil {
		return nil, err
	}
	var (
		out    []entry
		at     = map[string]int{}
		merges []*yaml.Node
	)
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, err := p.resolve(n.Content[i])
		if err != nil {
			return nil, err
		}
		if kn.Kind == yaml.ScalarNode && kn.ShortTag() == "!!merge" {
			merges = append(merges, n.Content[i+1])
			continue
		}
		if kn.Kind != yaml.ScalarNode {
			p.problem(false, "key-not-scalar", kn.Line, host, "write the key as a plain name",
				"a key in `%s` is a %s, not a plain name: Ansible refuses the file", orTop(where, host), yamlstrict.KindName(kn))
			continue
		}
		e := entry{key: kn.Value, keyNode: kn, val: n.Content[i+1]}
		if j, dup := at[e.key]; dup && !keepDups {
			p.duplicate(out[j], e, where, host)
			out[j] = e
			continue
		}
		at[e.key] = len(out)
		out = append(out, e)
	}
	// `<<: *defaults` (or a list of them): explicit keys win, earlier
	// merged mappings win over later ones, as YAML merge keys define.
	for _, mn := range merges {
		m, err := p.resolve(mn)
		if err != nil {
			return nil, err
		}
		srcs := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			srcs = m.Content
		}
		for _, s := range srcs {
			s, err := p.resolve(s)
			if err != nil {
				return nil, err
			}
			if s.Kind != yaml.MappingNode {
				p.problem(false, "merge-key-invalid", mn.Line, host, "merge (<<) an anchored mapping: `<<: *name`",
					"a merge key (<<) in `%s` needs a mapping or a list of mappings, got a %s: Ansible refuses the file",
					orTop(where, host), yamlstrict.KindName(s))
				continue
			}
			sub, err := p.entriesDup(s, where, host, depth+1, keepDups)
			if err != nil {
				return nil, err
			}
			for _, e := range sub {
				if _, set := at[e.key]; !set {
					at[e.key] = len(out)
					out = append(out, e)
				}
			}
		}
	}
	return out, nil
}

// duplicate reports a key given twice in one mapping.
func (p *yamlParser) duplicate(first, again entry, where, host string) {
	key := joinKey(where, again.key)
	value := ""
	if v, err := p.resolve(again.val); err == nil && v.Kind == yaml.ScalarNode {
		value = fmt.Sprintf(", %q", v.Value)
	}
	p.problem(false, "duplicate-key", again.keyNode.Line, host,
		"keep one `"+again.key+":` and delete the other",
		"`%s` is given twice (first on line %d): Ansible keeps only the last%s, and what the first said is lost",
		key, first.keyNode.Line, value)
}

// orTop names a mapping for messages.
func orTop(where, host string) string {
	switch {
	case where != "":
		return where
	case host != "":
		return "the host's variables"
	}
	return "the top level"
}

// mappingValue converts a vars mapping; where is the key path (relative to
// the host when host is set).
func (p *yamlParser) mappingValue(n *yaml.Node, where, host string, depth int) (map[string]any, error) {
	ents, err := p.entries(n, where, host, depth)
	if err != nil {
		return nil, err
	}
	m := make(map[string]any, len(ents))
	for _, e := range ents {
		v, err := p.value(e.val, joinKey(where, e.key), host, depth+1)
		if err != nil {
			return nil, err
		}
		m[e.key] = v
	}
	return m, nil
}

// value converts a node to plain Go values. Anchored nodes are converted
// once and shared by their aliases, so an alias costs O(1) memory.
func (p *yamlParser) value(n *yaml.Node, where, host string, depth int) (any, error) {
	if depth > maxDepth {
		return nil, p.tooDeep(n, where)
	}
	n, err := p.resolve(n)
	if err != nil {
		return nil, err
	}
	if v, ok := p.memo[n]; ok {
		return v, nil
	}
	var out any
	switch n.Kind {
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			v, err := p.value(e, where, host, depth+1)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		out = s
	case yaml.MappingNode:
		m, err := p.mappingValue(n, where, host, depth)
		if err != nil {
			return nil, err
		}
		out = m
	default:
		out = scalarValue(n)
	}
	if n.Anchor != "" {
		p.memo[n] = out
	}
	return out, nil
}

func joinKey(where, k string) string {
	if where == "" {
		return k
	}
	return where + "." + k
}

// scalarValue gives a scalar its YAML 1.2 type (yaml.v3 resolves the tag).
func scalarValue(n *yaml.Node) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		if b, err := strconv.ParseBool(n.Value); err == nil {
			return b
		}
	case "!!int":
		if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return int(i)
		}
	case "!!float":
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return f
		}
	}
	return n.Value
}

// scalarString renders a variable as the inventory wrote it, near enough.
func scalarString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return "" // a mapping or list is no address
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// isString: a scalar Ansible reads as a string (a name), not a number or
// a boolean.
func isString(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str"
}

// kindOf names a node's kind, a scalar by its YAML type.
func kindOf(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "number"
		case "!!bool":
			return "boolean"
		}
	}
	return yamlstrict.KindName(n)
}

// overlay returns base with top's keys over it, as a new map; base is
// shared between hosts and must not be written to.
func overlay(base, top map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(top))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range top {
		out[k] = v
	}
	return out
}
