package checks

import (
	"context"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

func peerHost(name, addr string) *cluster.Host {
	h := &cluster.Host{Name: name, Address: addr}
	if ip, err := netip.ParseAddr(addr); err == nil {
		h.IP = ip
	}
	return h
}

// loopbackPort returns a listening port and one that was listened on and
// closed again (so connecting is refused).
func loopbackPorts(t *testing.T) (open, closed uint16) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed = uint16(ln2.Addr().(*net.TCPAddr).Port)
	ln2.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port), closed
}

func hasLine(lines []string, parts ...string) bool {
	for _, l := range lines {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			return true
		}
	}
	return false
}

func TestPortsListen(t *testing.T) {
	skipBigEndian(t)
	// 0.0.0.0:7210 by kuma, 127.0.0.1:631 (loopback only), [::]:10260, udp 51820.
	dir := fakeProc(t,
		map[string]string{"tcp": procTCP4, "tcp6": procTCP6, "udp": procUDP4},
		map[int]fakeProcess{100: {"kuma", []string{"socket:[1111]"}}, 200: {"kubelet", []string{"socket:[4444]"}}})
	internal := cluster.PortInternal // 7210, listening
	web := cluster.PortWebUI         // 7220, not listening
	kubelet := cluster.Port{Name: "kubelet", Number: 10260, Proto: cluster.TCP, Purpose: "kubelet"}
	cups := cluster.Port{Name: "cups", Number: 631, Proto: cluster.TCP, Purpose: "printing"}
	wg4, wg6 := cluster.PortWG4, cluster.PortWG6 // 51820 bound, 51821 not

	tests := []struct {
		name      string
		listen    []cluster.Port
		roles     cluster.Roles
		status    Status
		msg       []string
		details   [][]string
		remedy    []string
		notRemedy string
	}{
		{
			name: "all listening", listen: []cluster.Port{internal, kubelet, wg4},
			status: OK, msg: []string{"3 of 3 required ports listening"},
			details: [][]string{{"7210/tcp", "0.0.0.0 by kuma (pid 100)"}, {"10260/tcp", ":: by kubelet (pid 200)"}, {"51820/udp", "listening on 0.0.0.0"}},
		},
		{
			name: "core port down", listen: []cluster.Port{internal, web}, roles: cluster.Roles{cluster.RoleCore},
			status: Crit, msg: []string{"1 required port not listening: 7220/tcp"},
			details: [][]string{{"7220/tcp (KUMA web UI): not listening"}, {"7210/tcp", "kuma (pid 100)"}},
			remedy:  []string{"7220/tcp: start the KUMA Core service: systemctl status 'kuma-core-*'"},
		},
		{
			name: "lb port down names nginx", listen: []cluster.Port{web}, roles: cluster.Roles{cluster.RoleLB},
			status: Crit, remedy: []string{"nginx"}, notRemedy: "kuma-core",
		},
		{
			name: "worker port down names k0sworker", listen: []cluster.Port{cluster.PortLonghorn}, roles: cluster.Roles{cluster.RoleWorker},
			status: Crit, remedy: []string{"systemctl status k0sworker"},
		},
		{
			name: "no roles: generic remedy", listen: []cluster.Port{web},
			status: Crit, remedy: []string{"KUMA web UI", "7220"},
		},
		{
			name: "udp not bound is a warning", listen: []cluster.Port{wg4, wg6},
			status: Warn, msg: []string{"1 UDP port not bound: 51821/udp"},
		},
		{
			name: "loopback only", listen: []cluster.Port{cups},
			status: Warn, msg: []string{"only on loopback", "631/tcp"}, remedy: []string{"0.0.0.0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Ports{Listen: tt.listen, Roles: tt.roles, ProcDir: dir}.Run(context.Background())
			if r.Status != tt.status {
				t.Fatalf("status = %v, want %v: %+v", r.Status, tt.status, r)
			}
			for _, m := range tt.msg {
				if !strings.Contains(r.Message, m) {
					t.Errorf("message %q lacks %q", r.Message, m)
				}
			}
			for _, d := range tt.details {
				if !hasLine(r.Details, d...) {
					t.Errorf("details %q lack a line with %q", r.Details, d)
				}
			}
			for _, m := range tt.remedy {
				if !strings.Contains(r.Remedy, m) {
					t.Errorf("remedy %q lacks %q", r.Remedy, m)
				}
			}
			if tt.notRemedy != "" && strings.Contains(r.Remedy, tt.notRemedy) {
				t.Errorf("remedy %q should not mention %q", r.Remedy, tt.notRemedy)
			}
		})
	}
}

func TestPortsListenUnreadableProc(t *testing.T) {
	r := Ports{Listen: []cluster.Port{cluster.PortWebUI}, ProcDir: t.TempDir()}.Run(context.Background())
	if r.Status != Unknown || !strings.Contains(r.Message, "cannot read") {
		t.Errorf("got %+v, want unknown 'cannot read'", r)
	}
}

// TestPortsListenRealProc finds this process as the owner of its listener.
func TestPortsListenRealProc(t *testing.T) {
	open, closed := loopbackPorts(t)
	p := Ports{Listen: []cluster.Port{
		{Name: "mine", Number: open, Proto: cluster.TCP, Purpose: "test listener"},
		{Name: "gone", Number: closed, Proto: cluster.TCP, Purpose: "closed listener"},
	}}
	r := p.Run(context.Background())
	if r.Status != Crit {
		t.Fatalf("status = %v, want crit for the closed port: %+v", r.Status, r)
	}
	self := "(pid " + strconv.Itoa(os.Getpid()) + ")"
	if !hasLine(r.Details, strconv.Itoa(int(open))+"/tcp", "127.0.0.1", self) {
		t.Errorf("details %q lack our listener with %s", r.Details, self)
	}
	if !hasLine(r.Details, strconv.Itoa(int(closed))+"/tcp", "not listening") {
		t.Errorf("details %q lack the closed port", r.Details)
	}
}

func TestPortsReachLoopback(t *testing.T) {
	open, closed := loopbackPorts(t)
	up := peerHost("kuma-w1.example.com", "127.0.0.1")
	half := peerHost("kuma-w2.example.com", "127.0.0.1")
	pOpen := cluster.Port{Name: "a", Number: open, Proto: cluster.TCP, Purpose: "KUMA REST API"}
	pClosed := cluster.Port{Name: "b", Number: closed, Proto: cluster.TCP, Purpose: "kubelet"}

	t.Run("all reachable", func(t *testing.T) {
		r := Ports{Targets: []cluster.Target{{Host: up, Port: pOpen}}, Timeout: 5 * time.Second}.Run(context.Background())
		if r.Status != OK || !strings.Contains(r.Message, "1 peer ports reachable") {
			t.Fatalf("got %+v", r)
		}
		if !hasLine(r.Details, "kuma-w1.example.com (127.0.0.1) reachable", pOpen.String()) {
			t.Errorf("details %q", r.Details)
		}
	})
	// A refusal proves the path is open: where the peer need not listen
	// it is no finding at all; where its listen table wants a socket it is
	// the peer's missing service (a warning), never a firewall fault.
	t.Run("refused where nothing need listen", func(t *testing.T) {
		r := Ports{Targets: []cluster.Target{{Host: up, Port: pOpen}, {Host: half, Port: pClosed}},
			Timeout: 5 * time.Second}.Run(context.Background())
		if r.Status != OK {
			t.Fatalf("status %v, want ok: %+v", r.Status, r)
		}
		if !hasLine(r.Details, "kuma-w2.example.com (127.0.0.1) path open (refused: nothing listens there, none required)", pClosed.String()) {
			t.Errorf("details %q", r.Details)
		}
	})
	t.Run("refused where the peer must listen", func(t *testing.T) {
		r := Ports{Targets: []cluster.Target{{Host: up, Port: pOpen}, {Host: half, Port: pClosed, Listens: true}},
			Timeout: 5 * time.Second}.Run(context.Background())
		if r.Status != Warn {
			t.Fatalf("status %v, want warn: %+v", r.Status, r)
		}
		if !strings.Contains(r.Message, "1 of 2 peer ports refused on 1 peer: the path is open") {
			t.Errorf("message %q", r.Message)
		}
		want := "kuma-w2.example.com (127.0.0.1) port " + pClosed.String() + " kubelet: connection refused (the path is open: nothing listens)"
		if !hasLine(r.Details, want) {
			t.Errorf("details %q lack %q", r.Details, want)
		}
		if strings.Contains(r.Remedy, "firewall-cmd") || !strings.Contains(r.Remedy, "REJECT") {
			t.Errorf("remedy %q: a refusal needs no port opened", r.Remedy)
		}
	})
}

// blockingDial never connects: it waits for the deadline like a dropped SYN,
// without sending anything anywhere.
type blockingDial struct {
	mu        sync.Mutex
	addrs     []string
	networks  []string
	deadlines []time.Time
}

func (b *blockingDial) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	dl, _ := ctx.Deadline()
	b.mu.Lock()
	b.addrs = append(b.addrs, addr)
	b.networks = append(b.networks, network)
	b.deadlines = append(b.deadlines, dl)
	b.mu.Unlock()
	<-ctx.Done()
	return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
}

func TestPortsReachDeadHost(t *testing.T) {
	dead := peerHost("kuma-w3.example.com", "127.0.20.42")
	ports := []cluster.Port{cluster.PortBGP, cluster.PortLonghorn, cluster.PortKubelet, cluster.PortRaft,
		cluster.PortInternal, cluster.PortWebUI, cluster.PortCyberTrace, cluster.PortREST}
	var targets []cluster.Target
	for _, p := range ports {
		targets = append(targets, cluster.Target{Host: dead, Port: p})
	}
	targets = append(targets, cluster.Target{Host: dead, Port: cluster.PortWG4}, cluster.Target{Host: dead, Port: cluster.PortWG6})
	bd := &blockingDial{}
	r := Ports{Targets: targets, Timeout: 50 * time.Millisecond, Dial: bd.Dial}.Run(context.Background())

	if r.Status != Crit || !strings.Contains(r.Message, "8 of 8 peer ports unreachable on 1 peer") {
		t.Fatalf("got %+v", r)
	}
	// One line for the dead peer, listing every port and the reason once.
	var lines []string
	for _, d := range r.Details {
		if strings.Contains(d, "no answer") {
			lines = append(lines, d)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("want one 'no answer' line for the dead peer, got %q", lines)
	}
	if !strings.HasPrefix(lines[0], "kuma-w3.example.com (127.0.20.42) ports ") ||
		!strings.HasSuffix(lines[0], "no answer within 50ms (filtered: a firewall drops it, or the host is down)") {
		t.Errorf("line %q", lines[0])
	}
	for _, p := range ports {
		if !strings.Contains(lines[0], p.String()) {
			t.Errorf("line %q lacks %s", lines[0], p)
		}
	}
	if !strings.Contains(r.Remedy, "nothing answered") {
		t.Errorf("remedy %q lacks the 'peer down or filtered' hint", r.Remedy)
	}
	// UDP is listed but never probed, and does not count as a failure.
	if !hasLine(r.Details, "51820/udp, 51821/udp", "not verifiable over UDP") {
		t.Errorf("details %q lack the UDP note", r.Details)
	}
	if len(bd.addrs) != len(ports) {
		t.Errorf("dialled %d times, want %d (TCP only): %v", len(bd.addrs), len(ports), bd.addrs)
	}
	for _, n := range bd.networks {
		if n != "tcp" {
			t.Errorf("dialled network %q", n)
		}
	}
	// All probes share one deadline: a dead host costs one timeout.
	for i, dl := range bd.deadlines {
		if dl.IsZero() || !dl.Equal(bd.deadlines[0]) {
			t.Errorf("probe %d deadline %v, want the shared %v", i, dl, bd.deadlines[0])
		}
	}
	if !strings.Contains(bd.addrs[0], "127.0.20.42:") {
		t.Errorf("dialled %q, want the host's IP", bd.addrs[0])
	}
}

func TestPortsReachParentDeadline(t *testing.T) {
	// The runner's deadline is earlier than the check's timeout: it wins, and
	// the message says the time actually waited.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	parent, _ := ctx.Deadline()
	bd := &blockingDial{}
	r := Ports{Targets: []cluster.Target{{Host: peerHost("peer", "127.0.20.1"), Port: cluster.PortREST}},
		Timeout: time.Hour, Dial: bd.Dial}.Run(ctx)
	if r.Status != Crit {
		t.Fatalf("got %+v", r)
	}
	if len(bd.deadlines) != 1 || bd.deadlines[0].After(parent) {
		t.Errorf("probe deadline %v after the parent's %v", bd.deadlines, parent)
	}
	if hasLine(r.Details, "1h0m0s") {
		t.Errorf("details %q claim the configured hour was waited", r.Details)
	}
}

func TestPortsDialHostFallback(t *testing.T) {
	bd := &blockingDial{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no waiting: we only look at the addresses
	Ports{Targets: []cluster.Target{
		{Host: &cluster.Host{Name: "byname.local"}, Port: cluster.PortREST},
		{Host: &cluster.Host{Name: "byaddr.local", Address: "core.example.com"}, Port: cluster.PortREST},
		{Host: nil, Port: cluster.PortREST},
	}, Dial: bd.Dial}.Run(ctx)
	want := map[string]bool{"byname.local:7223": true, "core.example.com:7223": true}
	if len(bd.addrs) != 2 || !want[bd.addrs[0]] || !want[bd.addrs[1]] {
		t.Errorf("dialled %v, want %v", bd.addrs, want)
	}
}

func TestDialFailure(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&net.DNSError{Name: "nowhere.invalid", Err: "no such host", IsNotFound: true}, "cannot resolve nowhere.invalid"},
		{context.DeadlineExceeded, "no answer within 500ms"},
		{&net.OpError{Op: "dial", Err: errString("weird")}, "weird"},
	}
	for _, tt := range tests {
		if got := dialFailure(tt.err, DefaultPortTimeout); !strings.Contains(got, tt.want) {
			t.Errorf("dialFailure(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func BenchmarkPortsDeadHost(b *testing.B) {
	dead := peerHost("dead", "127.0.20.42")
	var targets []cluster.Target
	for _, p := range cluster.ListenPorts(cluster.LayoutK0s, cluster.Roles{cluster.RoleControllerWorker}, nil) {
		targets = append(targets, cluster.Target{Host: dead, Port: p})
	}
	bd := &blockingDial{}
	p := Ports{Targets: targets, Timeout: 10 * time.Millisecond, Dial: bd.Dial}
	for b.Loop() {
		p.Run(context.Background())
	}
}

func TestPortsListenOnlyCountsTheNodesAddress(t *testing.T) {
	// Two "hosts" on one machine: a listener on 127.0.78.1 must not make the
	// same port look open for the node whose address is 127.0.78.2.
	ln, err := net.Listen("tcp", "127.0.78.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	want := []cluster.Port{{Name: "x", Number: port, Proto: cluster.TCP, Purpose: "test"}}

	other := Ports{Listen: want, Addr: netip.MustParseAddr("127.0.78.2")}
	if r := other.Run(context.Background()); r.Status != Crit || !hasLine(r.Details, "not listening") {
		t.Errorf("node 127.0.78.2: %v %q %q", r.Status, r.Message, r.Details)
	}
	owner := Ports{Listen: want, Addr: netip.MustParseAddr("127.0.78.1")}
	if r := owner.Run(context.Background()); r.Status != OK {
		t.Errorf("node 127.0.78.1: %v %q %q", r.Status, r.Message, r.Details)
	}
	// A node with a LAN address: the loopback-only listener is found but flagged.
	lan := Ports{Listen: want, Addr: netip.MustParseAddr("192.0.2.10")}
	if r := lan.Run(context.Background()); r.Status != Warn || !strings.Contains(r.Message, "loopback") {
		t.Errorf("node 192.0.2.10: %v %q", r.Status, r.Message)
	}
}

func TestUnreachableListsOnlyFailedTCP(t *testing.T) {
	open, closed := loopbackPorts(t)
	h := peerHost("peer.example.com", "127.0.0.1")
	p := Ports{Targets: []cluster.Target{
		{Host: h, Port: cluster.Port{Name: "open", Number: open, Proto: cluster.TCP}},
		{Host: h, Port: cluster.Port{Name: "closed", Number: closed, Proto: cluster.TCP}, Listens: true},
		{Host: h, Port: cluster.Port{Name: "unrequired", Number: closed, Proto: cluster.TCP}},
		{Host: h, Port: cluster.Port{Name: "wg", Number: 51820, Proto: cluster.UDP}},
	}, Timeout: time.Second}
	got := p.Unreachable(context.Background())
	if len(got) != 1 || got[0].Target.Port.Name != "closed" || !strings.Contains(got[0].Reason, "refused") || !got[0].Refused {
		t.Fatalf("got %+v", got)
	}
}

func TestReachIsNamedApart(t *testing.T) {
	var c Check = &Reach{}
	if c.Name() != "reach" || c.Area() != AreaNetwork {
		t.Fatalf("%s %s", c.Name(), c.Area())
	}
	if r := (Ports{}).Run(context.Background()); r.Status != OK || r.Message != "no ports required for this node's roles" {
		t.Errorf("empty: %+v", r)
	}
}

// The units' own listener flags replace the table's numbers: a Core whose
// unit says --raft.node.listen :<open> is judged on that port, not 7209.
func TestPortsUseTheUnitsOwnListeners(t *testing.T) {
	open, closed := loopbackPorts(t)
	table := []cluster.Port{{Name: "raft", Number: closed, Proto: cluster.TCP, Purpose: "KUMA Core Raft"}}
	if r := (Ports{Listen: table}).Run(context.Background()); r.Status != Crit {
		t.Fatalf("the table's port is closed: %+v", r)
	}
	p := Ports{Listen: table, Addr: netip.MustParseAddr("127.0.0.1"),
		UnitPorts: func() map[string]uint16 { return map[string]uint16{"raft": open, "web-ui": 1} }}
	r := p.Run(context.Background())
	if r.Status != OK || !hasLine(r.Details, strconv.Itoa(int(open))+"/tcp", "from its unit: KUMA Core Raft", "listening") {
		t.Fatalf("with the unit's port: %+v", r)
	}
	if table[0].Number != closed {
		t.Fatal("the check changed its table")
	}
}
