package inventory

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// iniSection is what the lines under a `[...]` header mean.
type iniSection int

const (
	sectionHosts    iniSection = iota // [group] or before any header: host lines
	sectionVars                       // [group:vars]: key=value lines
	sectionChildren                   // [group:children]: group names
)

var iniSectionSuffix = map[string]iniSection{"": sectionHosts, "vars": sectionVars, "children": sectionChildren}

// iniAddressVars are the variables naming a host's address, by priority:
// the address Ansible connects to, which in a cloud may be a floating
// (public, NAT) address the node does not own.
var iniAddressVars = []string{"ansible_ssh_host", "ansible_host", "ip"}

// InternalAddressVar names a node's own address (on its own interface)
// where it differs from the one Ansible connects to. Acura's file has no
// such variable; it is kuma-agent's, set in the supplement (or on the host
// line: Ansible keeps unknown host variables and ignores them).
const InternalAddressVar = "internal_address"

// iniGroupRoles: a host in one of these groups has this role instead of
// being an Acura node. Acura's ha_env_file lists only the nodes; the
// balancer is declared in the supplement's [lb] group.
var iniGroupRoles = map[string]cluster.Role{"lb": cluster.RoleLB}

type iniHost struct {
	host *cluster.Host
	vars map[string]any
}

type iniInventory struct {
	file      string
	hosts     map[string]*iniHost
	order     []*iniHost
	groupVars map[string]map[string]any
	children  map[string][]string // group -> child groups
	groups    []string            // groups in order of first mention, for var precedence
	seen      map[string]bool
}

// parseINI reads an Acura ha_env_file (Ansible INI): host lines
// `<name> key=value ...`, optional [group], [group:vars], [group:children]
// sections and #/; comments. Every host is an Acura HA node, except those
// in a group of iniGroupRoles.
func parseINI(file string, data []byte) (*cluster.Cluster, error) {
	inv, err := readINI(file, data)
	if err != nil {
		return nil, err
	}
	return inv.resolve(), nil
}

// readINI is parseINI before variables and roles are resolved, so a
// supplement can be merged first.
func readINI(file string, data []byte) (*iniInventory, error) {
	inv := &iniInventory{file: file, hosts: map[string]*iniHost{},
		groupVars: map[string]map[string]any{}, children: map[string][]string{}, seen: map[string]bool{}}
	group, section := "ungrouped", sectionHosts
	for i, raw := range strings.Split(string(data), "\n") {
		line := i + 1
		s := strings.TrimSpace(raw)
		if s == "" || s[0] == '#' || s[0] == ';' {
			continue
		}
		if s[0] == '[' {
			g, sec, err := inv.header(line, s)
			if err != nil {
				return nil, err
			}
			group, section = g, sec
			continue
		}
		var err error
		switch section {
		case sectionHosts:
			err = inv.hostLine(line, group, s)
		case sectionVars:
			err = inv.varLine(line, group, s)
		case sectionChildren:
			err = inv.childLine(line, group, s)
		}
		if err != nil {
			return nil, err
		}
	}
	return inv, nil
}

func (inv *iniInventory) mention(group string) {
	if !inv.seen[group] {
		inv.seen[group] = true
		inv.groups = append(inv.groups, group)
	}
}

func (inv *iniInventory) header(line int, s string) (string, iniSection, error) {
	if !strings.HasSuffix(s, "]") {
		return "", 0, errAt(inv.file, line, "", "section header %q lacks the closing ']'", s)
	}
	name, suffix, _ := strings.Cut(strings.TrimSpace(s[1:len(s)-1]), ":")
	sec, ok := iniSectionSuffix[suffix]
	if !ok {
		return "", 0, errAt(inv.file, line, name, "unknown section kind %q (valid: [group], [group:vars], [group:children])", suffix)
	}
	if name == "" || strings.ContainsAny(name, " \t=") {
		return "", 0, errAt(inv.file, line, "", "invalid group name in %q", s)
	}
	inv.mention(name)
	return name, sec, nil
}

func (inv *iniInventory) hostLine(line int, group, s string) error {
	fields := iniFields(s)
	name := fields[0]
	if !isINIHostToken(name) {
		return errAt(inv.file, line, "", "expected `<hostname> key=value ...`, got %q", s)
	}
	vars := map[string]any{}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return errAt(inv.file, line, name, "expected key=value, got %q", f)
		}
		vars[k] = unquote(v)
	}
	h := inv.hosts[name]
	if h == nil {
		h = &iniHost{host: &cluster.Host{Name: name, Line: line, Roles: cluster.Roles{cluster.RoleAcuraNode}},
			vars: map[string]any{}}
		inv.hosts[name] = h
		inv.order = append(inv.order, h)
	}
	for k, v := range vars {
		h.vars[k] = v
	}
	// A repeat declaration in the same group is kept: it is a likely
	// copy-paste mistake that Validate reports.
	h.host.Groups = append(h.host.Groups, group)
	return nil
}

func (inv *iniInventory) varLine(line int, group, s string) error {
	k, v, ok := strings.Cut(s, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return errAt(inv.file, line, group+":vars", "expected key=value, got %q", s)
	}
	if inv.groupVars[group] == nil {
		inv.groupVars[group] = map[string]any{}
	}
	inv.groupVars[group][k] = unquote(strings.TrimSpace(v))
	return nil
}

func (inv *iniInventory) childLine(line int, group, s string) error {
	fields := iniFields(s)
	if len(fields) != 1 {
		return errAt(inv.file, line, group+":children", "expected one group name per line, got %q", s)
	}
	inv.mention(fields[0])
	inv.children[group] = append(inv.children[group], fields[0])
	return nil
}

// resolve applies group membership through [x:children] and variable
// precedence (all < parent group < child group < host).
func (inv *iniInventory) resolve() *cluster.Cluster {
	parents := map[string][]string{}
	for g, kids := range inv.children {
		for _, k := range kids {
			parents[k] = append(parents[k], g)
		}
	}
	c := &cluster.Cluster{Layout: cluster.LayoutAcura}
	for _, ih := range inv.order {
		member := map[string]bool{"all": true}
		for _, g := range ih.host.Groups {
			ancestors(g, parents, member)
		}
		vars := map[string]any{}
		for _, g := range inv.byDepth(member, parents) {
			for k, v := range inv.groupVars[g] {
				vars[k] = v
			}
		}
		for k, v := range ih.vars {
			vars[k] = v
		}
		h := ih.host
		h.Vars = vars
		for g, r := range iniGroupRoles {
			if member[g] {
				h.Roles = cluster.Roles{r}
			}
		}
		resolveAddresses(h)
		c.Hosts = append(c.Hosts, h)
	}
	return c
}

// resolveAddresses sets h's address: its internal_address when given (the
// one on its own interface: gossip, /etc/hosts, DNS and port checks use
// it), with the address Ansible connects to kept as the public one when it
// differs; otherwise the address Ansible connects to.
func resolveAddresses(h *cluster.Host) {
	public, from := "", ""
	for _, k := range iniAddressVars {
		if a, ok := h.Vars[k].(string); ok && a != "" {
			public, from = a, k
			break
		}
	}
	h.Address, h.AddressFrom = public, from
	if in, ok := h.Vars[InternalAddressVar].(string); ok && in != "" {
		h.Address, h.AddressFrom = in, InternalAddressVar
		if public != in {
			h.PublicAddress, h.PublicFrom = public, from
		}
	}
	if ip, err := netip.ParseAddr(h.Address); err == nil {
		h.IP = ip
	}
}

// byDepth orders the groups in member parents first (all, then its
// children...), so a child group's vars override its parent's as in Ansible;
// groups of equal depth keep the order of first mention.
func (inv *iniInventory) byDepth(member map[string]bool, parents map[string][]string) []string {
	depth := map[string]int{}
	var depthOf func(g string, seen map[string]bool) int
	depthOf = func(g string, seen map[string]bool) int {
		if d, ok := depth[g]; ok {
			return d
		}
		if g == "all" || seen[g] {
			return 0
		}
		seen[g] = true
		d := 1
		for _, p := range parents[g] {
			d = max(d, depthOf(p, seen)+1)
		}
		depth[g] = d
		return d
	}
	out := []string{"all"}
	for _, g := range inv.groups {
		if member[g] && g != "all" {
			out = append(out, g)
		}
	}
	slices.SortStableFunc(out[1:], func(a, b string) int {
		return depthOf(a, map[string]bool{}) - depthOf(b, map[string]bool{})
	})
	return out
}

// ancestors marks g and every group it is (transitively) a child of; the
// member set doubles as the visited set, so cycles terminate.
func ancestors(g string, parents map[string][]string, member map[string]bool) {
	stack := []string{g}
	for len(stack) > 0 {
		g, stack = stack[len(stack)-1], stack[:len(stack)-1]
		if member[g] {
			continue
		}
		member[g] = true
		stack = append(stack, parents[g]...)
	}
}

// iniFields splits a line on blanks, keeping quoted values whole and
// dropping a trailing `# comment`.
func iniFields(s string) []string {
	var (
		out   []string
		cur   strings.Builder
		quote byte
		in    bool
	)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0:
			cur.WriteByte(ch)
			if ch == quote {
				quote = 0
			}
		case ch == '"' || ch == '\'':
			quote = ch
			in = true
			cur.WriteByte(ch)
		case ch == ' ' || ch == '\t' || ch == '\r':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		case (ch == '#' || ch == ';') && !in:
			return out
		default:
			in = true
			cur.WriteByte(ch)
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// unquote strips one pair of matching quotes, as Ansible does for INI values.
func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}
