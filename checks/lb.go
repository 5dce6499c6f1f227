package checks

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// streamModule is the dynamic module that gives nginx the stream block.
const streamModule = "ngx_stream_module.so"

// LB checks the nginx TCP load balancer in front of a k0s or Acura cluster:
// that the stream module is there, that the configuration passes `nginx -t`,
// and that the stream upstreams send each port to the inventory's backends.
type LB struct {
	// Cluster is the inventory; nil skips the backend comparison.
	Cluster *cluster.Cluster
	// Overrides renumber ports by name, as in the Ports check.
	Overrides cluster.Overrides
	// Bin is the nginx binary (default "nginx").
	Bin string
	// Conf is the main configuration (default /etc/nginx/nginx.conf).
	Conf string
	// ModulesDir is where dynamic modules live (default /usr/lib/nginx/modules).
	ModulesDir string
	// Cmd runs nginx; nil means ExecCommander.
	Cmd Commander
}

func (LB) Name() string { return "lb" }
func (LB) Area() Area   { return AreaLB }

func (l LB) withDefaults() LB {
	if l.Bin == "" {
		l.Bin = "nginx"
	}
	if l.Conf == "" {
		l.Conf = "/etc/nginx/nginx.conf"
	}
	if l.ModulesDir == "" {
		l.ModulesDir = "/usr/lib/nginx/modules"
	}
	if l.Cmd == nil {
		l.Cmd = ExecCommander{}
	}
	return l
}

func (l LB) Run(ctx context.Context) Result {
	l = l.withDefaults()
	var f findings
	conf, confErr := ParseNginxConfig(l.Conf)
	l.checkModule(ctx, &f, conf, confErr)
	syntaxOK := l.checkSyntax(ctx, &f)
	routed := 0
	switch {
	case confErr != nil && syntaxOK:
		// nginx accepts what our reader does not: our limitation, not a fault.
		f.add(Unknown, fmt.Sprintf("cannot compare the stream upstreams: %v", confErr), "")
	case confErr != nil:
		f.detail("reading the configuration: %v", confErr)
	default:
		routed = l.checkRoutes(&f, conf)
	}
	return f.result(fmt.Sprintf("nginx configuration valid; stream forwards %d ports to the inventory's backends", routed))
}

func (l LB) loadModuleLine() string {
	return fmt.Sprintf("load_module %s;", filepath.Join(l.ModulesDir, streamModule))
}

// checkModule finds the stream module: compiled in, loaded by load_module,
// or at least installed.
func (l LB) checkModule(ctx context.Context, f *findings, conf []*NginxDirective, confErr error) {
	out, err := l.Cmd.Run(ctx, l.Bin, "-V")
	if err != nil && !strings.Contains(string(out), "configure arguments") {
		f.add(Crit, fmt.Sprintf("cannot run %s -V: %v", l.Bin, errText(err, out)),
			"install nginx with the stream module: apt install nginx libnginx-mod-stream (Astra Linux, Debian) or dnf install nginx nginx-mod-stream (RHEL family)")
		return
	}
	var static, dynamic bool
	for _, a := range strings.Fields(string(out)) {
		// Exact tokens: --with-stream_ssl_module must not count.
		switch strings.Trim(a, "'\"") {
		case "--with-stream":
			static = true
		case "--with-stream=dynamic":
			dynamic = true
		}
	}
	if static {
		f.detail("stream module: compiled into nginx")
		return
	}
	for _, d := range findDirectives(conf, "load_module") {
		if len(d.Args) == 1 && filepath.Base(d.Args[0]) == streamModule {
			f.detail("stream module: loaded at %s", d.Pos())
			return
		}
	}
	so := filepath.Join(l.ModulesDir, streamModule)
	if _, err := os.Stat(so); err == nil {
		f.add(Crit, "the nginx stream module is installed but not loaded",
			fmt.Sprintf("add `%s` at the top of %s, then nginx -t && systemctl reload nginx", l.loadModuleLine(), l.Conf))
		return
	}
	how := "nginx was built without it"
	if dynamic {
		how = fmt.Sprintf("nginx supports it as a module, but %s is missing", so)
	}
	if confErr != nil {
		how += "; the configuration could not be read to look for load_module"
	}
	f.add(Crit, "nginx has no stream module ("+how+")",
		fmt.Sprintf("apt install libnginx-mod-stream (Astra Linux, Debian; RHEL: dnf install nginx-mod-stream), "+
			"then make sure `%s` is at the top of %s", l.loadModuleLine(), l.Conf))
}

// checkSyntax runs nginx -t on the configuration and reports whether it passed.
func (l LB) checkSyntax(ctx context.Context, f *findings) bool {
	out, err := l.Cmd.Run(ctx, l.Bin, "-t", "-c", l.Conf)
	if err == nil {
		f.detail("nginx -t -c %s: ok", l.Conf)
		return true
	}
	if ctx.Err() != nil {
		f.add(Unknown, fmt.Sprintf("nginx -t did not finish: %v", ctx.Err()), "")
		return false
	}
	msg := nginxError(out, err)
	var lines []string
	for _, ln := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if ln = strings.TrimSpace(ln); ln != "" {
			lines = append(lines, "nginx -t: "+ln)
		}
	}
	f.details = append(f.details, lines...)
	remedy := "fix the configuration where nginx points, then nginx -t && systemctl reload nginx"
	if strings.Contains(msg, `unknown directive "stream"`) {
		remedy = fmt.Sprintf("load the stream module: add `%s` at the top of %s "+
			"(install it first if missing: apt install libnginx-mod-stream), then nginx -t && systemctl reload nginx",
			l.loadModuleLine(), l.Conf)
	}
	f.add(Crit, "nginx -t failed: "+msg, remedy)
	return false
}

// nginxError picks nginx's own complaint from its output.
func nginxError(out []byte, err error) string {
	var last string
	for _, ln := range strings.Split(string(out), "\n") {
		ln = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(ln), "nginx:"))
		if ln == "" {
			continue
		}
		if strings.Contains(ln, "[emerg]") || strings.Contains(ln, "[alert]") {
			return ln
		}
		last = ln
	}
	if last != "" {
		return last
	}
	return err.Error()
}

func errText(err error, out []byte) string {
	if s := strings.TrimSpace(string(out)); s != "" {
		return s
	}
	return err.Error()
}

// lbRoutes is what the load balancer must forward, per layout: each port
// to the same port on every host holding one of the backend roles
// (reference sections 1a, 2 and 3).
var lbRoutes = []struct {
	layout   cluster.Layout
	ports    []cluster.Port
	backends []cluster.Role
}{
	{cluster.LayoutK0s,
		[]cluster.Port{cluster.PortRaft, cluster.PortInternal, cluster.PortWebUI, cluster.PortCyberTrace, cluster.PortREST},
		[]cluster.Role{cluster.RoleWorker, cluster.RoleControllerWorker}},
	{cluster.LayoutK0s,
		[]cluster.Port{cluster.PortAPIServer, cluster.PortKonnect, cluster.PortK0sJoin},
		[]cluster.Role{cluster.RoleController, cluster.RoleControllerWorker}},
	{cluster.LayoutAcura,
		[]cluster.Port{cluster.PortAcuraHTTP, cluster.PortAcuraHTTPS, cluster.PortAcuraInit, cluster.PortAPIServer,
			cluster.PortAcuraReg, cluster.PortAcuraLogs},
		[]cluster.Role{cluster.RoleAcuraNode}},
}

// streamServer is one `server { listen ...; proxy_pass ...; }` of a stream block.
type streamServer struct {
	port  uint16
	proto cluster.Proto
	pass  string
	pos   string
}

// streamConfig is the stream part of an nginx configuration.
type streamConfig struct {
	servers   []streamServer
	upstreams map[string]*NginxDirective
}

func readStream(conf []*NginxDirective) streamConfig {
	sc := streamConfig{upstreams: map[string]*NginxDirective{}}
	for _, st := range findDirectives(conf, "stream") {
		for _, u := range st.Children("upstream") {
			if len(u.Args) == 1 {
				sc.upstreams[u.Args[0]] = u
			}
		}
		for _, srv := range st.Children("server") {
			if srv.Block == nil {
				continue
			}
			pass := ""
			if pp := srv.Children("proxy_pass"); len(pp) > 0 && len(pp[0].Args) > 0 {
				pass = pp[0].Args[0]
			}
			for _, ls := range srv.Children("listen") {
				if len(ls.Args) == 0 {
					continue
				}
				port, ok := listenPort(ls.Args[0])
				if !ok {
					continue
				}
				proto := cluster.TCP
				if slices.Contains(ls.Args[1:], "udp") {
					proto = cluster.UDP
				}
				sc.servers = append(sc.servers, streamServer{port: port, proto: proto, pass: pass, pos: ls.Pos()})
			}
		}
	}
	return sc
}

// listenPort reads "7210", "0.0.0.0:7210", "*:7210" or "[::]:7210".
func listenPort(s string) (uint16, bool) {
	if _, p, err := net.SplitHostPort(s); err == nil {
		s = p
	}
	n, err := strconv.ParseUint(s, 10, 16)
	return uint16(n), err == nil && n > 0
}

// upstreamServer is one `server` line of an upstream block.
type upstreamServer struct {
	host string
	port uint16
	down bool
	raw  string
}

func parseBackend(d *NginxDirective) (upstreamServer, bool) {
	if len(d.Args) == 0 || strings.HasPrefix(d.Args[0], "unix:") {
		return upstreamServer{}, false
	}
	b := upstreamServer{raw: d.Args[0], host: d.Args[0], port: 80, down: slices.Contains(d.Args[1:], "down")}
	if h, p, err := net.SplitHostPort(d.Args[0]); err == nil {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return upstreamServer{}, false
		}
		b.host, b.port = h, uint16(n)
	}
	return b, true
}

func (b upstreamServer) is(h *cluster.Host) bool {
	if strings.EqualFold(b.host, h.Name) || (h.Address != "" && b.host == h.Address) {
		return true
	}
	ip, err := netip.ParseAddr(b.host)
	return err == nil && h.IP.IsValid() && ip.Unmap() == h.IP.Unmap()
}

// checkRoutes compares the stream upstreams with the inventory and returns
// how many required ports are forwarded to all their backends.
func (l LB) checkRoutes(f *findings, conf []*NginxDirective) int {
	if l.Cluster == nil {
		f.detail("no inventory: stream backends not compared")
		return 0
	}
	sc := readStream(conf)
	var unrouted []string
	var unroutedFix []string
	var missing, extra, unverifiable []string
	missingFix := map[string]bool{}
	ok := 0
	for _, route := range lbRoutes {
		if route.layout != l.Cluster.Layout {
			continue
		}
		var hosts []*cluster.Host
		for _, h := range l.Cluster.Hosts {
			if slices.ContainsFunc(route.backends, h.Roles.Has) {
				hosts = append(hosts, h)
			}
		}
		for _, port := range route.ports {
			if n, ok := l.Overrides[port.Name]; ok && n != 0 {
				port.Number = n
			}
			if len(hosts) == 0 {
				f.detail("%s: the inventory has no %s host to forward to", port, rolesText(route.backends))
				continue
			}
			servers := slices.DeleteFunc(slices.Clone(sc.servers), func(s streamServer) bool {
				return s.port != port.Number || s.proto != port.Proto
			})
			if len(servers) == 0 {
				unrouted = append(unrouted, port.String())
				unroutedFix = append(unroutedFix, streamSnippet(port, hosts))
				continue
			}
			good := true
			for _, s := range servers {
				up, name := l.backendsOf(s, sc)
				if up == nil && strings.Contains(s.pass, "$") {
					unverifiable = append(unverifiable, fmt.Sprintf("%s at %s: proxy_pass %s uses a variable", port, s.pos, s.pass))
					good = false
					continue
				}
				var bs []upstreamServer
				if up != nil {
					for _, d := range up.Children("server") {
						if b, ok := parseBackend(d); ok {
							bs = append(bs, b)
						}
					}
				} else if b, ok := parseBackend(&NginxDirective{Args: []string{s.pass}}); ok && s.pass != "" {
					bs = append(bs, b)
				}
				pos := s.pos
				if up != nil {
					pos = up.Pos() // where a missing server line goes
				}
				where := fmt.Sprintf("%s at %s (%s)", name, pos, port)
				for _, h := range hosts {
					i := slices.IndexFunc(bs, func(b upstreamServer) bool { return b.is(h) && b.port == port.Number })
					switch {
					case i < 0:
						missing = append(missing, fmt.Sprintf("%s lacks %s:%d", where, peerLabel(h), port.Number))
						missingFix[fmt.Sprintf("server %s:%d; in %s", dialHost(h), port.Number, name)] = true
						good = false
					case bs[i].down:
						missing = append(missing, fmt.Sprintf("%s marks %s down", where, bs[i].raw))
						good = false
					}
				}
				for _, b := range bs {
					if !slices.ContainsFunc(hosts, func(h *cluster.Host) bool { return b.is(h) && b.port == port.Number }) {
						extra = append(extra, fmt.Sprintf("%s sends to %s, not a %s of the inventory on that port",
							where, b.raw, rolesText(route.backends)))
					}
				}
			}
			if good {
				ok++
				f.detail("%s (%s): forwarded to %s", port, shortPurpose(port), hostNames(hosts))
			}
		}
	}
	for _, p := range unrouted {
		f.detail("%s: no stream server listens on it", p)
	}
	f.details = append(f.details, missing...)
	f.details = append(f.details, extra...)
	f.details = append(f.details, unverifiable...)
	if len(unrouted) > 0 {
		f.add(Crit, "nginx stream does not listen on "+strings.Join(unrouted, ", "),
			"add to the stream block of "+l.Conf+": "+strings.Join(unroutedFix, " "))
	}
	if len(missing) > 0 {
		fixes := make([]string, 0, len(missingFix))
		for k := range missingFix {
			fixes = append(fixes, k)
		}
		slices.Sort(fixes)
		f.add(Crit, fmt.Sprintf("%s missing from the nginx stream upstreams", nounCount(len(missing), "inventory backend is", "inventory backends are")),
			"add "+strings.Join(fixes, ", ")+", then nginx -t && systemctl reload nginx")
	}
	if len(extra) > 0 {
		f.add(Warn, fmt.Sprintf("%s not in the inventory", nounCount(len(extra), "upstream backend is", "upstream backends are")),
			"remove the stale server lines from the upstream, or add the host to the inventory")
	}
	if len(unverifiable) > 0 {
		f.add(Unknown, fmt.Sprintf("%s cannot be verified (proxy_pass with variables)", nounCount(len(unverifiable), "route", "routes")), "")
	}
	return ok
}

// backendsOf resolves a stream server's proxy_pass to its upstream block;
// nil means proxy_pass names an address (or nothing).
func (l LB) backendsOf(s streamServer, sc streamConfig) (*NginxDirective, string) {
	if up, ok := sc.upstreams[s.pass]; ok {
		return up, "upstream " + s.pass
	}
	if s.pass == "" {
		return nil, "server without proxy_pass"
	}
	return nil, "proxy_pass " + s.pass
}

// streamSnippet is the configuration that would forward port to hosts.
func streamSnippet(port cluster.Port, hosts []*cluster.Host) string {
	name := fmt.Sprintf("%s_%d", strings.ReplaceAll(port.Name, "-", "_"), port.Number)
	var b strings.Builder
	fmt.Fprintf(&b, "upstream %s { least_conn;", name)
	for _, h := range hosts {
		fmt.Fprintf(&b, " server %s:%d;", dialHost(h), port.Number)
	}
	listen := strconv.Itoa(int(port.Number))
	if port.Proto == cluster.UDP {
		listen += " udp"
	}
	fmt.Fprintf(&b, " } server { listen %s; proxy_pass %s; }", listen, name)
	return b.String()
}

func hostNames(hs []*cluster.Host) string {
	s := make([]string, len(hs))
	for i, h := range hs {
		s[i] = h.Name
	}
	return strings.Join(s, ", ")
}

func rolesText(rs []cluster.Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.Description()
	}
	return strings.Join(s, " or ")
}
