package checks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// DefaultPortTimeout bounds the whole batch of TCP probes when Ports.Timeout
// is zero.
const DefaultPortTimeout = 500 * time.Millisecond

// Ports checks that this node listens on its required ports and reaches its
// peers' ports.
type Ports struct {
	// Listen are the ports this node must accept connections on.
	Listen []cluster.Port
	// Targets are the peer ports this node must reach.
	Targets []cluster.Target
	// Roles of this node choose the service a remedy names; optional.
	Roles cluster.Roles
	// Addr is this node's cluster address; optional. When set, a socket
	// bound to another specific address of this host does not serve the
	// node (it belongs to another service, or another "host" when several
	// share a machine, as in the demo and in tests).
	Addr netip.Addr
	// ProcDir is /proc.
	ProcDir string
	// Timeout bounds one TCP connect. All connects run at once under this one
	// deadline, so a dead peer costs one timeout, not one per port.
	Timeout time.Duration
	// Dial opens a connection; nil means net.Dialer.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// UnitPorts are the numbers this node's KUMA units listen on by their
	// own flags, by port name (cluster.Port.Name): they replace the
	// table's number (and checks.ports.overrides, which stays for what
	// the units do not say). nil or empty: none known.
	UnitPorts func() map[string]uint16
}

// fromUnits replaces Listen's numbers with the units' own.
func (p Ports) fromUnits() Ports {
	if p.UnitPorts == nil {
		return p
	}
	up := p.UnitPorts()
	if len(up) == 0 {
		return p
	}
	listen := make([]cluster.Port, len(p.Listen))
	for i, port := range p.Listen {
		if n, ok := up[port.Name]; ok && n != 0 && port.Proto == cluster.TCP {
			port.Number = n
			port.Purpose = "from its unit: " + port.Purpose
		}
		listen[i] = port
	}
	p.Listen = listen
	return p
}

func (Ports) Name() string { return "ports" }
func (Ports) Area() Area   { return AreaNetwork }

func (p Ports) Run(ctx context.Context) Result {
	p = p.fromUnits()
	var f findings
	var parts []string
	if len(p.Listen) > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d required ports listening", p.checkListen(&f), len(p.Listen)))
	}
	if len(p.Targets) > 0 {
		parts = append(parts, fmt.Sprintf("%d peer ports reachable", p.checkReach(ctx, &f)))
	}
	if len(parts) == 0 {
		parts = append(parts, "no ports required for this node's roles")
	}
	return f.result(strings.Join(parts, ", "))
}

// Reach is the peer half of the port checks, reported under its own name:
// a node that cannot reach a peer is not itself down, and the cluster's
// quorum view counts a node as healthy by its "ports" (its own services).
type Reach struct{ Ports }

func (Reach) Name() string { return "reach" }

func (p Ports) procDir() string {
	if p.ProcDir == "" {
		return "/proc"
	}
	return p.ProcDir
}

// checkListen reports each required port and returns how many listen.
func (p Ports) checkListen(f *findings) int {
	if len(p.Listen) == 0 {
		return 0
	}
	socks, err := ReadSockets(p.procDir())
	if err != nil {
		f.add(Unknown, fmt.Sprintf("cannot read the socket tables: %v", err),
			"make sure /proc is mounted and the agent may read "+p.procDir()+"/net")
		return 0
	}
	type key struct {
		proto cluster.Proto
		port  uint16
	}
	bound := map[key][]Socket{}
	for _, s := range socks {
		if s.Listening() && p.serves(s) {
			k := key{s.Proto, s.Local.Port()}
			bound[k] = append(bound[k], s)
		}
	}
	want := map[uint64]bool{}
	for _, port := range p.Listen {
		for _, s := range bound[key{port.Proto, port.Number}] {
			if s.Inode != 0 {
				want[s.Inode] = true
			}
		}
	}
	owners := SocketOwners(p.procDir(), want)

	var missingTCP, missingUDP, loopOnly []cluster.Port
	n := 0
	for _, port := range p.Listen {
		ss := bound[key{port.Proto, port.Number}]
		if len(ss) == 0 {
			if port.Proto == cluster.UDP {
				f.detail("%s (%s): not bound", port, shortPurpose(port))
				missingUDP = append(missingUDP, port)
			} else {
				f.detail("%s (%s): not listening", port, shortPurpose(port))
				missingTCP = append(missingTCP, port)
			}
			continue
		}
		n++
		f.detail("%s (%s): listening on %s", port, shortPurpose(port), describeBound(ss, owners))
		if allLoopback(ss) && !(p.Addr.IsValid() && p.Addr.Unmap().IsLoopback()) {
			loopOnly = append(loopOnly, port)
		}
	}
	if len(missingTCP) > 0 {
		f.add(Crit, fmt.Sprintf("%s not listening: %s", nounCount(len(missingTCP), "required port", "required ports"), portList(missingTCP)),
			p.ownerRemedy(missingTCP))
	}
	if len(missingUDP) > 0 {
		f.add(Warn, fmt.Sprintf("%s not bound: %s", nounCount(len(missingUDP), "UDP port", "UDP ports"), portList(missingUDP)),
			p.ownerRemedy(missingUDP))
	}
	if len(loopOnly) > 0 {
		f.add(Warn, fmt.Sprintf("%s only on loopback, peers cannot connect: %s", nounCount(len(loopOnly), "port listens", "ports listen"), portList(loopOnly)),
			"make the service listen on 0.0.0.0 or the node's cluster address")
	}
	return n
}

func describeBound(ss []Socket, owners map[uint64]Process) string {
	var parts []string
	seen := map[string]bool{}
	for _, s := range ss {
		d := s.Local.Addr().String()
		if o, ok := owners[s.Inode]; ok {
			d += " by " + o.String()
		}
		if !seen[d] {
			seen[d] = true
			parts = append(parts, d)
		}
	}
	return strings.Join(parts, ", ")
}

// serves reports whether a listening socket accepts connections for this
// node: bound to the wildcard, to Addr, or (reported separately as a
// loopback-only problem) to loopback.
func (p Ports) serves(s Socket) bool {
	a := s.Local.Addr().Unmap()
	if !p.Addr.IsValid() || a.IsUnspecified() || a == p.Addr.Unmap() {
		return true
	}
	return a.IsLoopback() && !p.Addr.Unmap().IsLoopback()
}

func allLoopback(ss []Socket) bool {
	for _, s := range ss {
		if !s.Local.Addr().IsLoopback() {
			return false
		}
	}
	return true
}

// portOwners names the service that should hold a port, by the node's role.
// The first row whose role the node has and whose ports include the port
// wins, so the load balancer's row comes first: on an LB every KUMA port is
// nginx's.
var portOwners = []struct {
	roles []cluster.Role
	ports []string
	hint  string
}{
	{[]cluster.Role{cluster.RoleLB},
		[]string{"raft", "internal", "web-ui", "cybertrace", "rest", "kube-apiserver", "konnectivity", "k0s-join",
			"acura-http", "acura-https", "acura-initial", "acura-logs", "acura-registry"},
		"start nginx (the load balancer): systemctl status nginx; nginx -t"},
	{[]cluster.Role{cluster.RoleController, cluster.RoleControllerWorker},
		[]string{"kube-apiserver", "konnectivity", "k0s-join", "etcd-peer", "kubelet", "kube-router-bgp", "longhorn", "wireguard-v4", "wireguard-v6"},
		"start the k0s controller: systemctl status k0scontroller; k0s status"},
	{[]cluster.Role{cluster.RoleWorker},
		[]string{"kubelet", "kube-router-bgp", "longhorn", "wireguard-v4", "wireguard-v6"},
		"start the k0s worker: systemctl status k0sworker; k0s status"},
	{[]cluster.Role{cluster.RoleWorker, cluster.RoleControllerWorker},
		[]string{"raft", "internal", "web-ui", "cybertrace", "rest", "core-health"},
		"check the KUMA Core pod and ingress: k0s kubectl get pod -n kuma -o wide"},
	{[]cluster.Role{cluster.RoleCore, cluster.RoleCorePeer},
		[]string{"raft", "internal", "web-ui", "cybertrace", "rest", "core-health"},
		"start the KUMA Core service: systemctl status 'kuma-core-*'"},
	{[]cluster.Role{cluster.RoleStorage},
		[]string{"clickhouse-native", "clickhouse-replica", "keeper", "keeper-raft"},
		"start the KUMA storage service: systemctl status 'kuma-storage-*'"},
	{[]cluster.Role{cluster.RoleAcuraNode},
		[]string{"kube-apiserver", "etcd-client", "etcd-peer", "kubelet", "acura-mariadb", "acura-kibana", "acura-grafana"},
		"check kubelet and the Acura pods: systemctl status kubelet; kubectl get pods -A -o wide"},
}

// ownerRemedy groups the ports by the service that should own them.
func (p Ports) ownerRemedy(ports []cluster.Port) string {
	var hints []string
	byHint := map[string][]cluster.Port{}
	for _, port := range ports {
		h := p.ownerHint(port)
		if _, ok := byHint[h]; !ok {
			hints = append(hints, h)
		}
		byHint[h] = append(byHint[h], port)
	}
	parts := make([]string, len(hints))
	for i, h := range hints {
		parts[i] = portList(byHint[h]) + ": " + h
	}
	return strings.Join(parts, "; ")
}

func (p Ports) ownerHint(port cluster.Port) string {
	for _, row := range portOwners {
		if slices.Contains(row.ports, port.Name) && slices.ContainsFunc(row.roles, p.Roles.Has) {
			return row.hint
		}
	}
	return fmt.Sprintf("start the service providing %s and check it listens on port %d", port.Purpose, port.Number)
}

// portProbe is the outcome of one TCP connect.
type portProbe struct {
	target cluster.Target
	err    error
}

// checkReach dials every TCP target at once and returns how many answered.
func (p Ports) checkReach(ctx context.Context, f *findings) int {
	var tcp []cluster.Target
	udp := map[*cluster.Host][]cluster.Port{}
	var udpPeers []*cluster.Host
	for _, t := range p.Targets {
		if t.Host == nil {
			continue
		}
		if t.Port.Proto == cluster.UDP {
			// A UDP probe proves nothing without an answering protocol, and
			// WireGuard answers nobody it does not know: list, never probe.
			if _, ok := udp[t.Host]; !ok {
				udpPeers = append(udpPeers, t.Host)
			}
			udp[t.Host] = append(udp[t.Host], t.Port)
			continue
		}
		tcp = append(tcp, t)
	}
	budget := p.Timeout
	if budget <= 0 {
		budget = DefaultPortTimeout
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < budget {
		budget = max(time.Until(dl), 0)
	}
	probes := p.dialAll(ctx, tcp, budget)

	type group struct {
		host   *cluster.Host
		reason string
		ports  []cluster.Port
	}
	var failed []*group
	okByHost := map[*cluster.Host][]cluster.Port{}
	openByHost := map[*cluster.Host][]cluster.Port{} // refused where nothing need listen
	var hosts []*cluster.Host
	blocked := newPortSet()  // no path: filtered, unreachable
	unserved := newPortSet() // path open, the peer's required service absent
	silent := false          // some probe got no answer at all
	reachable := 0
	for _, pr := range probes {
		h := pr.target.Host
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
		switch pathOf(pr) {
		case pathAnswered:
			reachable++
			okByHost[h] = append(okByHost[h], pr.target.Port)
			continue
		case pathOpen:
			reachable++
			openByHost[h] = append(openByHost[h], pr.target.Port)
			continue
		case pathNoService:
			unserved.add(h, pr.target.Port)
		default:
			blocked.add(h, pr.target.Port)
		}
		reason := dialFailure(pr.err, budget)
		silent = silent || isTimeout(pr.err)
		i := slices.IndexFunc(failed, func(g *group) bool { return g.host == h && g.reason == reason })
		if i < 0 {
			failed = append(failed, &group{host: h, reason: reason})
			i = len(failed) - 1
		}
		failed[i].ports = append(failed[i].ports, pr.target.Port)
	}
	for _, g := range failed {
		word := "port"
		if len(g.ports) > 1 {
			word = "ports"
		}
		f.detail("%s %s %s: %s", peerLabel(g.host), word, labelledPorts(g.ports), g.reason)
	}
	for _, h := range hosts {
		if ps := okByHost[h]; len(ps) > 0 {
			f.detail("%s reachable: %s", peerLabel(h), portList(ps))
		}
		if ps := openByHost[h]; len(ps) > 0 {
			f.detail("%s path open (refused: nothing listens there, none required): %s", peerLabel(h), portList(ps))
		}
	}
	for _, h := range udpPeers {
		f.detail("%s %s: not verifiable over UDP (not probed)", peerLabel(h), portList(udp[h]))
	}
	if n := blocked.count(); n > 0 {
		f.add(Crit, fmt.Sprintf("%d of %d peer ports unreachable on %s", n, len(tcp), nounCount(len(blocked.hosts), "peer", "peers")),
			firewallRemedy(blocked.ports, silent))
	}
	if n := unserved.count(); n > 0 {
		f.add(Warn, fmt.Sprintf("%d of %d peer ports refused on %s: the path is open, the peer's service does not listen",
			n, len(tcp), nounCount(len(unserved.hosts), "peer", "peers")),
			"the peer's own ports check names the missing service; if it listens there, a firewall REJECT rule answers for it: "+
				"iptables -S | grep -i reject, nft list ruleset | grep -i reject")
	}
	return reachable
}

// path is what one TCP probe proves about the way to a peer's port.
type path int

const (
	pathAnswered  path = iota // connected
	pathOpen                  // refused, and nothing need listen there: the firewall lets it through
	pathNoService             // refused where the peer's listen table wants a socket
	pathBlocked               // timed out (dropped), no route, or another failure
)

// pathOf classifies a probe. A refusal (RST or ICMP port unreachable) comes
// from the peer's kernel, so the packets got through: the firewall question
// is answered. A timeout is what a DROP rule looks like.
func pathOf(pr portProbe) path {
	switch {
	case pr.err == nil:
		return pathAnswered
	case !errors.Is(pr.err, syscall.ECONNREFUSED):
		return pathBlocked
	case pr.target.Listens:
		return pathNoService
	default:
		return pathOpen
	}
}

// portSet gathers failed (host, port) pairs: the hosts and the distinct ports.
type portSet struct {
	n     int
	hosts map[*cluster.Host]bool
	ports []cluster.Port
}

func newPortSet() *portSet { return &portSet{hosts: map[*cluster.Host]bool{}} }

func (s *portSet) add(h *cluster.Host, p cluster.Port) {
	s.n++
	s.hosts[h] = true
	if !slices.ContainsFunc(s.ports, func(q cluster.Port) bool { return q.String() == p.String() }) {
		s.ports = append(s.ports, p)
	}
}

func (s *portSet) count() int { return s.n }

// Unreached is a peer port that did not answer, and why.
type Unreached struct {
	Target cluster.Target
	Reason string
	// Refused: the path is open, the peer's required service does not
	// listen (a firewall problem otherwise).
	Refused bool
}

// Unreachable probes the TCP targets as Run does (all at once, one
// deadline) and returns those that did not answer, except refusals where
// nothing need listen (the path is open, which is all the matrix asks).
// Each node's answer is one row of the cluster-wide reachability matrix.
func (p Ports) Unreachable(ctx context.Context) []Unreached {
	var tcp []cluster.Target
	for _, t := range p.Targets {
		if t.Host != nil && t.Port.Proto == cluster.TCP {
			tcp = append(tcp, t)
		}
	}
	budget := p.Timeout
	if budget <= 0 {
		budget = DefaultPortTimeout
	}
	var out []Unreached
	for _, pr := range p.dialAll(ctx, tcp, budget) {
		switch pathOf(pr) {
		case pathNoService, pathBlocked:
			out = append(out, Unreached{Target: pr.target, Reason: dialFailure(pr.err, budget), Refused: pathOf(pr) == pathNoService})
		}
	}
	return out
}

// dialAll connects to every target concurrently under one deadline.
func (p Ports) dialAll(ctx context.Context, targets []cluster.Target, budget time.Duration) []portProbe {
	dial := p.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	out := make([]portProbe, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		out[i].target = t
		wg.Go(func() {
			addr := net.JoinHostPort(dialHost(t.Host), strconv.Itoa(int(t.Port.Number)))
			c, err := dial(ctx, "tcp", addr)
			if err == nil {
				c.Close()
			}
			out[i].err = err
		})
	}
	wg.Wait()
	return out
}

func dialHost(h *cluster.Host) string {
	switch {
	case h.IP.IsValid():
		return h.IP.String()
	case h.Address != "":
		return h.Address
	default:
		return h.Name
	}
}

func peerLabel(h *cluster.Host) string {
	if a := dialHost(h); a != h.Name {
		return fmt.Sprintf("%s (%s)", h.Name, a)
	}
	return h.Name
}

// dialFailure turns a connect error into what it means for the operator.
func dialFailure(err error, budget time.Duration) string {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (the path is open: nothing listens)"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable (no route or no ARP answer)"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable (no route)"
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot resolve %s: %s", dnsErr.Name, dnsErr.Err)
	case isTimeout(err):
		return fmt.Sprintf("no answer within %v (filtered: a firewall drops it, or the host is down)", budget.Round(time.Millisecond))
	default:
		return err.Error()
	}
}

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.As(err, &netErr) && netErr.Timeout()
}

func firewallRemedy(ports []cluster.Port, silent bool) string {
	var fw, nums []string
	for _, p := range ports {
		fw = append(fw, "--add-port="+p.String())
		nums = append(nums, strconv.Itoa(int(p.Number)))
	}
	r := fmt.Sprintf("check the service on the peer is running, then open its firewall: "+
		"firewall-cmd --permanent %s && firewall-cmd --reload "+
		"(or iptables -I INPUT -p tcp -m multiport --dports %s -j ACCEPT)",
		strings.Join(fw, " "), strings.Join(nums, ","))
	if silent {
		r += "; where nothing answered, also check the peer is up and no firewall between the hosts drops the traffic"
	}
	return r
}

// shortPurpose drops the parenthesised remark of a port's purpose.
func shortPurpose(p cluster.Port) string {
	s, _, _ := strings.Cut(p.Purpose, " (")
	if s == "" {
		return p.Name
	}
	return s
}

func portList(ps []cluster.Port) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

func labelledPorts(ps []cluster.Port) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String() + " " + shortPurpose(p)
	}
	return strings.Join(s, ", ")
}

// nounCount says "1 port" or "3 ports".
func nounCount(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// findings accumulates the parts of a check that looks at several things
// (Ports, LB): the worst status wins, every part's message and remedy is kept.
type findings struct {
	status   Status
	msgs     []string
	remedies []string
	details  []string
}

func (f *findings) add(s Status, msg, remedy string) {
	f.status = Worst(f.status, s)
	f.msgs = append(f.msgs, msg)
	if remedy != "" && !slices.Contains(f.remedies, remedy) {
		f.remedies = append(f.remedies, remedy)
	}
}

func (f *findings) detail(format string, args ...any) {
	f.details = append(f.details, fmt.Sprintf(format, args...))
}

func (f *findings) result(okMsg string) Result {
	if len(f.msgs) == 0 {
		return Result{Status: OK, Message: okMsg, Details: f.details}
	}
	return Result{Status: f.status, Message: strings.Join(f.msgs, "; "),
		Details: f.details, Remedy: strings.Join(f.remedies, "\n")}
}
