package inventory

import (
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
)

// errBudget marks a document refused for its shape rather than its syntax.
var errBudget = yamlstrict.ErrBudget

// hostVarsAddress are the variables naming a host's address, by priority.
var hostVarsAddress = []string{"ansible_host", "ip"}

type yamlHost struct {
	host      *cluster.Host
	groupVars map[string]any
	hostVars  map[string]any
}

type yamlParser struct {
	file  string
	doc   *yamlstrict.Doc
	memo  map[*yaml.Node]any // converted anchored values, shared by aliases
	hosts map[string]*yamlHost
	order []*yamlHost
	facts layoutFacts
}

// parseYAML resolves a KUMA installer inventory: top-level groups (all,
// kuma, kuma_k0s, ...) with vars, children (recursive) and hosts. Variables
// are inherited all.vars < parent group < child group < host, roughly as
// Ansible does; a host listed in several groups gets the union of roles.
func parseYAML(file yamlstrict.Options, name string, data []byte) (*cluster.Cluster, error) {
	doc, err := file.Parse(name, data)
	if err != nil {
		return nil, err
	}
	if doc.Body == nil {
		return nil, errAt(name, 0, "", "empty inventory")
	}
	p := &yamlParser{file: name, doc: doc, memo: map[*yaml.Node]any{}, hosts: map[string]*yamlHost{}}
	root := doc.Body
	allVars, err := p.allVars(root)
	if err != nil {
		return nil, err
	}
	p.facts.deployToK8s = truthy(allVars["deploy_to_k8s"])
	for i := 0; i+1 < len(root.Content); i += 2 {
		name, err := p.key(root.Content[i], "")
		if err != nil {
			return nil, err
		}
		inherited := allVars
		if name == "all" {
			inherited = nil
		}
		if err := p.walkGroup(root.Content[i+1], []string{name}, inherited, 1); err != nil {
			return nil, err
		}
	}
	return p.cluster(), nil
}

// allVars reads all.vars first: every group inherits them, wherever `all`
// sits in the file.
func (p *yamlParser) allVars(root *yaml.Node) (map[string]any, error) {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "all" {
			continue
		}
		g, err := p.resolve(root.Content[i+1])
		if err != nil || g.Kind != yaml.MappingNode {
			return nil, err // a wrong shape is reported by walkGroup
		}
		for j := 0; j+1 < len(g.Content); j += 2 {
			if g.Content[j].Value == "vars" {
				return p.mapping(g.Content[j+1], "all.vars", 2)
			}
		}
	}
	return nil, nil
}

func (p *yamlParser) walkGroup(n *yaml.Node, chain []string, inherited map[string]any, depth int) error {
	name := chain[len(chain)-1]
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
		return errAt(p.file, n.Line, name, "a group must be a mapping with vars, children and hosts, got a %s", yamlstrict.KindName(n))
	}
	parts := map[string]*yaml.Node{}
	var order []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, err := p.key(n.Content[i], name)
		if err != nil {
			return err
		}
		switch k {
		case "vars", "children", "hosts":
		default:
			return errAt(p.file, n.Content[i].Line, name, "unexpected key %q (a group holds only vars, children and hosts)", k)
		}
		if _, dup := parts[k]; dup {
			return errAt(p.file, n.Content[i].Line, name, "%q given twice", k)
		}
		parts[k] = n.Content[i+1]
		order = append(order, k)
	}
	vars := inherited
	if vn, ok := parts["vars"]; ok {
		gv, err := p.mapping(vn, name+".vars", depth+1)
		if err != nil {
			return err
		}
		vars = overlay(inherited, gv)
	}
	// Hosts and children in file order, so Host.Line is the first mention.
	for _, k := range order {
		var err error
		switch k {
		case "hosts":
			err = p.walkHosts(parts[k], chain, vars, depth+1)
		case "children":
			err = p.walkChildren(parts[k], chain, vars, depth+1)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *yamlParser) walkHosts(n *yaml.Node, chain []string, vars map[string]any, depth int) error {
	group := chain[len(chain)-1]
	n, err := p.resolve(n)
	if err != nil || isNull(n) {
		return err
	}
	if n.Kind != yaml.MappingNode {
		return errAt(p.file, n.Line, group+".hosts", "must be a mapping of host name to variables, got a %s", yamlstrict.KindName(n))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn := n.Content[i]
		name, err := p.key(kn, group+".hosts")
		if err != nil {
			return err
		}
		if strings.TrimSpace(name) == "" {
			return errAt(p.file, kn.Line, group+".hosts", "empty host name")
		}
		hv, err := p.resolve(n.Content[i+1])
		if err != nil {
			return err
		}
		var hostVars map[string]any
		if !isNull(hv) {
			if hv.Kind != yaml.MappingNode {
				return errAt(p.file, hv.Line, name, "host variables must be a mapping, got a %s", yamlstrict.KindName(hv))
			}
			if hostVars, err = p.mapping(hv, name, depth+1); err != nil {
				return err
			}
		}
		p.addHost(name, kn.Line, chain, vars, hostVars)
	}
	return nil
}

func (p *yamlParser) walkChildren(n *yaml.Node, chain []string, vars map[string]any, depth int) error {
	group := chain[len(chain)-1]
	n, err := p.resolve(n)
	if err != nil || isNull(n) {
		return err
	}
	if n.Kind != yaml.MappingNode {
		return errAt(p.file, n.Line, group+".children", "must be a mapping of group name to group, got a %s", yamlstrict.KindName(n))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		child, err := p.key(n.Content[i], group+".children")
		if err != nil {
			return err
		}
		sub := append(chain[:len(chain):len(chain)], child)
		if err := p.walkGroup(n.Content[i+1], sub, vars, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (p *yamlParser) addHost(name string, line int, chain []string, groupVars, hostVars map[string]any) {
	yh := p.hosts[name]
	if yh == nil {
		yh = &yamlHost{host: &cluster.Host{Name: name, Line: line}, groupVars: map[string]any{}, hostVars: map[string]any{}}
		p.hosts[name] = yh
		p.order = append(p.order, yh)
	}
	h := yh.host
	// Every declaration is recorded, a repeat in one group included: it is
	// a likely copy-paste mistake that Validate reports.
	h.Groups = append(h.Groups, chain[len(chain)-1])
	for _, g := range chain {
		if r, ok := groupRoles[g]; ok {
			h.Roles = h.Roles.Add(r)
		}
		if g == k0sGroup {
			p.facts.k0sHosts = true
		}
	}
	for k, v := range groupVars {
		yh.groupVars[k] = v
	}
	for k, v := range hostVars {
		yh.hostVars[k] = v
	}
}

func (p *yamlParser) cluster() *cluster.Cluster {
	c := &cluster.Cluster{Hosts: make([]*cluster.Host, 0, len(p.order))}
	for _, yh := range p.order {
		h := yh.host
		h.Vars = overlay(yh.groupVars, yh.hostVars)
		for _, k := range hostVarsAddress {
			if v, ok := h.Vars[k]; ok && v != nil {
				h.Address = scalarString(v)
				break
			}
		}
		if ip, err := netip.ParseAddr(h.Address); err == nil {
			h.IP = ip
		}
		c.Hosts = append(c.Hosts, h)
	}
	c.Layout = detectLayout(c.Hosts, p.facts)
	return c
}

// resolve follows an alias, counting it against the budget.
func (p *yamlParser) resolve(n *yaml.Node) (*yaml.Node, error) { return p.doc.Resolve(n) }

func (p *yamlParser) tooDeep(n *yaml.Node, key string) error { return p.doc.TooDeep(n, key) }

// key returns a mapping key, which must be a scalar.
func (p *yamlParser) key(n *yaml.Node, where string) (string, error) {
	k, err := p.resolve(n)
	if err != nil {
		return "", err
	}
	if k.Kind != yaml.ScalarNode {
		return "", errAt(p.file, k.Line, where, "a key must be a plain name, got a %s", yamlstrict.KindName(k))
	}
	return k.Value, nil
}

// mapping converts a vars mapping (null is an empty one).
func (p *yamlParser) mapping(n *yaml.Node, where string, depth int) (map[string]any, error) {
	r, err := p.resolve(n)
	if err != nil {
		return nil, err
	}
	if isNull(r) {
		return nil, nil
	}
	if r.Kind != yaml.MappingNode {
		return nil, errAt(p.file, r.Line, where, "must be a mapping of variables, got a %s", yamlstrict.KindName(r))
	}
	v, err := p.value(r, where, depth)
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	return m, nil
}

// value converts a node to plain Go values. Anchored nodes are converted
// once and shared by their aliases, so an alias costs O(1) memory.
func (p *yamlParser) value(n *yaml.Node, where string, depth int) (any, error) {
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
	case yaml.ScalarNode:
		out = scalarValue(n)
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			v, err := p.value(e, where, depth+1)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		out = s
	case yaml.MappingNode:
		m, err := p.mappingValue(n, where, depth)
		if err != nil {
			return nil, err
		}
		out = m
	default:
		return nil, errAt(p.file, n.Line, where, "unexpected YAML %s", yamlstrict.KindName(n))
	}
	if n.Anchor != "" {
		p.memo[n] = out
	}
	return out, nil
}

func (p *yamlParser) mappingValue(n *yaml.Node, where string, depth int) (map[string]any, error) {
	m := make(map[string]any, len(n.Content)/2)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn := n.Content[i]
		if kn.Kind == yaml.ScalarNode && kn.ShortTag() == "!!merge" {
			merges = append(merges, n.Content[i+1])
			continue
		}
		k, err := p.key(kn, where)
		if err != nil {
			return nil, err
		}
		v, err := p.value(n.Content[i+1], joinKey(where, k), depth+1)
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	// `<<: *defaults` (or a list of them): explicit keys win, earlier
	// merged mappings win over later ones, as YAML merge keys define.
	for _, mn := range merges {
		v, err := p.value(mn, where, depth+1)
		if err != nil {
			return nil, err
		}
		srcs, ok := v.([]any)
		if !ok {
			srcs = []any{v}
		}
		for _, s := range srcs {
			sm, ok := s.(map[string]any)
			if !ok {
				return nil, errAt(p.file, mn.Line, where, "a merge key (<<) needs a mapping or a list of mappings")
			}
			for k, v := range sm {
				if _, set := m[k]; !set {
					m[k] = v
				}
			}
		}
	}
	return m, nil
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
