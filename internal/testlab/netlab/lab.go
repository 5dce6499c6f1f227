// Package netlab runs real processes on "hosts" that are Linux network
// namespaces joined by one bridge, so end-to-end tests see real sockets,
// real packet loss and real process crashes without leaving the machine.
//
//	switch namespace <prefix>-sw:  bridge br0, one port <prefix>-pN per host
//	host namespace   <prefix>-hN:  lo + eth0 = 10.99.0.N/24 (veth to port N)
//
// Every namespace and process group a Lab makes is removed by t.Cleanup,
// also when the test fails or panics. The prefix holds the creating
// process's pid, so a later New removes what a killed test binary left.
package netlab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/kuma-agent/kuma-agent/internal/testlab"
)

// Subnet is the /24 the hosts live in; host N is Subnet.N.
const Subnet = "10.99.0"

// MaxHosts keeps addresses in the /24 (.255 is its broadcast) and
// interface names within IFNAMSIZ: "kl" + the pid in base 36 (at most 5
// digits for pid_max 2^22) + "-" + the lab's sequence number (1-2 digits)
// + "-p254" is at most 15 bytes.
const MaxHosts = 254

// labSeq makes prefixes unique among the labs of one process.
var labSeq atomic.Int64

// Lab is a set of hosts in network namespaces on one switch.
type Lab struct {
	t      testlab.TB
	prefix string
	n      int

	mu    sync.Mutex
	nss   []string // namespaces made, switch first
	procs []*Proc
}

// New makes a switch and n hosts. Without root it skips the test loudly;
// without iproute2 it fails in CI and skips loudly elsewhere (testlab).
// Everything is removed when the test ends.
func New(t testlab.TB, n int) *Lab {
	t.Helper()
	if n < 1 || n > MaxHosts {
		t.Fatalf("netlab: %d hosts: want 1..%d", n, MaxHosts)
	}
	testlab.NeedRoot(t, "network namespaces (netlab)")
	testlab.NeedTools(t, "ip")
	sweepStale()
	l := &Lab{
		t:      t,
		prefix: "kl" + strconv.FormatInt(int64(os.Getpid()), 36) + "-" + strconv.FormatInt(labSeq.Add(1), 36),
		n:      n,
	}
	t.Cleanup(l.close)
	if err := l.build(); err != nil {
		if isPermission(err) {
			// Root without the capability (a restricted container).
			t.Skip("SKIP (loud): netlab cannot make network namespaces here: " + err.Error())
		}
		t.Fatalf("netlab: %v", err)
	}
	return l
}

// Prefix is this lab's unique name prefix (for Sweep and diagnostics).
func (l *Lab) Prefix() string { return l.prefix }

// N is the number of hosts; they are numbered 1..N.
func (l *Lab) N() int { return l.n }

// Namespace is host i's network namespace name.
func (l *Lab) Namespace(i int) string { return l.prefix + "-h" + strconv.Itoa(i) }

func (l *Lab) switchNS() string { return l.prefix + "-sw" }

// port is host i's veth end on the switch.
func (l *Lab) port(i int) string { return l.prefix + "-p" + strconv.Itoa(i) }

// Addr is host i's IPv4 address.
func (l *Lab) Addr(i int) string { return Subnet + "." + strconv.Itoa(i) }

func (l *Lab) check(i int) {
	if i < 1 || i > l.n {
		panic(fmt.Sprintf("netlab: host %d of %d", i, l.n)) // a bug in the test, not bad input
	}
}

// Exec returns a command that runs name in host i's namespace. The caller
// runs it (Run, Output, ...) and may set Env, Stdout and so on first.
func (l *Lab) Exec(i int, name string, args ...string) *exec.Cmd {
	l.check(i)
	return exec.Command("ip", append([]string{"netns", "exec", l.Namespace(i), name}, args...)...)
}

func (l *Lab) build() error {
	sw := l.switchNS()
	if err := l.addNS(sw); err != nil {
		return err
	}
	steps := [][]string{
		{"-n", sw, "link", "set", "lo", "up"},
		{"-n", sw, "link", "add", "br0", "type", "bridge"},
		{"-n", sw, "link", "set", "br0", "up"},
	}
	if err := ipAll(steps); err != nil {
		return err
	}
	for i := 1; i <= l.n; i++ {
		h := l.Namespace(i)
		if err := l.addNS(h); err != nil {
			return err
		}
		steps := [][]string{
			{"-n", sw, "link", "add", l.port(i), "type", "veth", "peer", "name", "eth0", "address", mac(i), "netns", h},
			{"-n", sw, "link", "set", l.port(i), "master", "br0", "up"},
			{"-n", h, "link", "set", "lo", "up"},
			{"-n", h, "addr", "add", l.Addr(i) + "/24", "dev", "eth0"},
			{"-n", h, "link", "set", "eth0", "up"},
		}
		if err := ipAll(steps); err != nil {
			return err
		}
	}
	return l.staticNeighbours()
}

// mac is host i's eth0 address: locally administered, unique in the lab.
func mac(i int) string { return fmt.Sprintf("02:6b:6c:00:%02x:%02x", i>>8, i&0xff) }

// staticNeighbours gives every host a permanent ARP entry for every other
// host. The kernel's neighbour table is one for all namespaces, and its
// garbage collector keeps it under net.ipv4.neigh.default.gc_thresh3
// (1024) entries: 50 hosts that all talk to each other need 2450, and past
// the limit the kernel drops packets while it re-resolves ("neighbor table
// overflow!"), which a mesh sees as UDP loss. Permanent entries are outside
// that limit (Linux 5.0 and later) and need no ARP traffic at all.
func (l *Lab) staticNeighbours() error {
	for i := 1; i <= l.n; i++ {
		var b strings.Builder
		for j := 1; j <= l.n; j++ {
			if j != i {
				fmt.Fprintf(&b, "neigh replace %s lladdr %s dev eth0 nud permanent\n", l.Addr(j), mac(j))
			}
		}
		cmd := exec.Command("ip", "-n", l.Namespace(i), "-batch", "-")
		cmd.Stdin = strings.NewReader(b.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("ip -n %s -batch (neighbours): %w: %s", l.Namespace(i), err, bytes.TrimSpace(out))
		}
	}
	return nil
}

func (l *Lab) addNS(name string) error {
	if err := ip("netns", "add", name); err != nil {
		return err
	}
	l.mu.Lock()
	l.nss = append(l.nss, name)
	l.mu.Unlock()
	return nil
}

// CutOff unplugs host i from the switch: its processes keep running, every
// packet to or from it is lost.
func (l *Lab) CutOff(i int) error { return l.setLink(i, false) }

// Heal plugs host i back in.
func (l *Lab) Heal(i int) error { return l.setLink(i, true) }

// close kills every process group the lab started and removes its
// namespaces (hosts before the switch). Errors are reported, never fatal:
// cleanup must get as far as it can.
func (l *Lab) close() {
	l.mu.Lock()
	procs, nss := l.procs, l.nss
	l.procs, l.nss = nil, nil
	l.mu.Unlock()
	for _, p := range procs {
		p.Kill()
	}
	for i := len(nss) - 1; i >= 0; i-- {
		if err := removeNS(nss[i]); err != nil {
			l.t.Errorf("netlab cleanup: %v", err)
		}
	}
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func ipAll(steps [][]string) error {
	for _, s := range steps {
		if err := ip(s...); err != nil {
			return err
		}
	}
	return nil
}

func isPermission(err error) bool {
	s := err.Error()
	return strings.Contains(s, "Operation not permitted") || strings.Contains(s, "Permission denied")
}
