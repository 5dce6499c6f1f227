package memberlist

import (
	"container/list"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"
)

// Tests of the kuma-agent patch (third_party/README.md). `make test` runs
// them: cd third_party/memberlist && go test -race -run Kuma ./

func TestKumaClassifyDialFailure(t *testing.T) {
	// A real refused dial: a port that was just closed on loopback.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, refused := net.DialTimeout("tcp", addr, time.Second)
	if refused == nil {
		t.Fatalf("dial %s after close succeeded", addr)
	}
	for _, tc := range []struct {
		name string
		err  error
		want unreachableKind
	}{
		{"real refused dial", refused, unreachableRefused},
		{"timeout", &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}, unreachableSilent},
		{"host unreachable", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}, unreachableSilent},
		{"anything else", errors.New("no route"), unreachableSilent},
	} {
		if got := classifyDialFailure(tc.err); got != tc.want {
			t.Errorf("%s (%v): got %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// kumaNode is a memberlist on loopback with real sockets.
func kumaNode(t *testing.T, name string, unreachable time.Duration, tweak ...func(*Config)) *Memberlist {
	t.Helper()
	c := DefaultLANConfig()
	c.Name = name
	c.BindAddr = "127.0.0.1"
	c.BindPort = 0
	c.Logger = log.New(io.Discard, "", 0)
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.SuspicionMult = 3
	c.UnreachableSuspicionTimeout = unreachable
	// No gossip rounds: a suspected live peer must not refute before the
	// test reads the suspicion's timer (probes and joins still work).
	c.GossipInterval = time.Hour
	// The probe ticker runs too; it takes the same path as probeOnce, so
	// whichever raises the suspicion first, the timer's timing is the same.
	for _, f := range tweak {
		f(c)
	}
	m, err := Create(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return m
}

// probeOnce runs one probe of node from m, as its probe ticker would, and
// returns the suspicion timer it left (nil: none).
func probeOnce(t *testing.T, m *Memberlist, node string) *timerView {
	t.Helper()
	m.nodeLock.RLock()
	st, ok := m.nodeMap[node]
	var cp nodeState
	if ok {
		cp = *st
	}
	m.nodeLock.RUnlock()
	if !ok {
		t.Fatalf("%s unknown to %s", node, m.config.Name)
	}
	m.probeNode(&cp)
	return viewTimer(m, node)
}

// timerView is a suspicion timer's timing, read with nodeLock held: the
// probe ticker may hasten the same timer while a test looks at it.
type timerView struct {
	s           *suspicion
	min, max    time.Duration
	k           int32
	unreachable bool
}

// viewTimer reads m's suspicion timer of node (nil: none).
func viewTimer(m *Memberlist, node string) *timerView {
	m.nodeLock.RLock()
	defer m.nodeLock.RUnlock()
	s, ok := m.nodeTimers[node]
	if !ok {
		return nil
	}
	return &timerView{s: s, min: s.min, max: s.max, k: s.k, unreachable: s.unreachable}
}

// fakeNode makes m know a member name, alive at incarnation 1, whose
// gossip address is addr: a plain TCP listener standing in for a process
// (hung, or gone once the listener closes).
func fakeNode(m *Memberlist, name string, addr net.Addr) {
	a := addr.(*net.TCPAddr)
	m.aliveNode(&alive{Incarnation: 1, Node: name, Addr: a.IP.To4(), Port: uint16(a.Port),
		Vsn: []uint8{ProtocolVersionMin, ProtocolVersionMax, ProtocolVersion2Compatible, 1, 5, 5}}, nil, false)
}

// hungListener is a TCP listener on loopback that accepts connections and
// never answers, as a hung process's kernel does; nothing listens on its
// UDP port. Closing it (the test's cleanup does) closes what it accepted,
// and from then on its port refuses, as when the process is gone.
func hungListener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return ln
}

// TestKumaRefusedProbeSuspectsFast: a peer whose process is gone (its
// gossip port refuses) is suspected with UnreachableSuspicionTimeout (under
// upstream's 600 ms here: it never lengthens a suspicion) and
// no confirmations; without the option, upstream's timing.
func TestKumaRefusedProbeSuspectsFast(t *testing.T) {
	for _, tc := range []struct {
		unreachable time.Duration
		wantFast    bool
	}{{300 * time.Millisecond, true}, {0, false}} {
		t.Run(fmt.Sprintf("unreachable=%v", tc.unreachable), func(t *testing.T) {
			a := kumaNode(t, "a", tc.unreachable)
			b := kumaNode(t, "b", 0)
			if _, err := a.Join([]string{b.LocalNode().Address()}); err != nil {
				t.Fatal(err)
			}
			if err := b.Shutdown(); err != nil { // closes b's TCP listener: refused
				t.Fatal(err)
			}
			timer := probeOnce(t, a, "b")
			if timer == nil {
				t.Fatal("probe of a stopped peer raised no suspicion")
			}
			upstreamMin := suspicionTimeout(a.config.SuspicionMult, a.estNumNodes(), a.config.ProbeInterval)
			if tc.wantFast {
				if timer.min != tc.unreachable || timer.k != 0 {
					t.Errorf("timer min=%v k=%d, want min=%v k=0 (refused: no confirmation needed)", timer.min, timer.k, tc.unreachable)
				}
			} else if timer.min != upstreamMin {
				t.Errorf("timer min=%v, want upstream's %v", timer.min, upstreamMin)
			}
		})
	}
}

// TestKumaSilentNeedsConfirmations: silence (no answer to the handshake)
// gets the short timeout but keeps the configured confirmations, whatever
// this node's health; a refused dial needs none.
func TestKumaSilentNeedsConfirmations(t *testing.T) {
	m := kumaNode(t, "a", 600*time.Millisecond)
	for _, score := range []int{0, 1} {
		m.awareness.ApplyDelta(score)
		if f := m.unreachableSuspicion(unreachableSilent); f == nil || f.min != 600*time.Millisecond || f.noConfirmations {
			t.Errorf("health score %d, silent: got %+v, want min 600ms with confirmations", score, f)
		}
		if f := m.unreachableSuspicion(unreachableRefused); f == nil || !f.noConfirmations {
			t.Errorf("health score %d, refused: got %+v, want the fast timing without confirmations", score, f)
		}
		if f := m.unreachableSuspicion(reachable); f != nil {
			t.Errorf("health score %d, reachable: got %+v, want upstream timing", score, f)
		}
	}
	off := kumaNode(t, "b", 0)
	if f := off.unreachableSuspicion(unreachableRefused); f != nil {
		t.Errorf("option off, refused: got %+v, want upstream timing", f)
	}
}

// TestKumaFastSuspicionStillRefuted: a live node suspected through the fast
// path refutes as upstream: the suspicion must not outlive an alive message
// with a higher incarnation.
func TestKumaFastSuspicionStillRefuted(t *testing.T) {
	a := kumaNode(t, "a", 600*time.Millisecond)
	b := kumaNode(t, "b", 0)
	if _, err := a.Join([]string{b.LocalNode().Address()}); err != nil {
		t.Fatal(err)
	}
	a.nodeLock.RLock()
	inc := a.nodeMap["b"].Incarnation
	a.nodeLock.RUnlock()
	a.suspectNodeWith(&suspect{Incarnation: inc, Node: "b", From: "a"}, &fastSuspicion{min: 600 * time.Millisecond, noConfirmations: true})
	a.nodeLock.RLock()
	st := a.nodeMap["b"].State
	a.nodeLock.RUnlock()
	if st != StateSuspect {
		t.Fatalf("b is %v after the suspicion, want suspect", st)
	}
	bn := b.LocalNode()
	a.aliveNode(&alive{Incarnation: inc + 1, Node: "b", Addr: bn.Addr, Port: bn.Port, Meta: bn.Meta, Vsn: b.config.BuildVsnArray()}, nil, false)
	time.Sleep(900 * time.Millisecond) // past the fast timeout: the timer must find b alive
	a.nodeLock.RLock()
	st = a.nodeMap["b"].State
	a.nodeLock.RUnlock()
	if st != StateAlive {
		t.Errorf("b is %v after refuting, want alive", st)
	}
}

// TestKumaKernelConnect: the kernel's own verdict on a handshake, on
// loopback: a listener is reachable (accepting or not: the kernel completes
// the handshake for a process that never runs), a closed port refused.
func TestKumaKernelConnect(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close() // never accepts: like a starved process
	if got := kernelConnect(l.Addr().String(), time.Second); got != reachable {
		t.Errorf("listening, never accepting: got %v, want reachable", got)
	}
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l2.Addr().String()
	l2.Close()
	if got := kernelConnect(closed, time.Second); got != unreachableRefused {
		t.Errorf("closed port: got %v, want refused", got)
	}
	if got := recheckUnreachable(l.Addr().String(), os.ErrDeadlineExceeded, time.Second); got != reachable {
		t.Errorf("Go's dial timed out but the kernel connects: got %v, want reachable (upstream's path)", got)
	}
	if got := kernelConnect("not an address", time.Second); got != reachable {
		t.Errorf("unparsable address: got %v, want reachable (upstream's path)", got)
	}
}

// TestKumaHeardSuspicionCheckedByKernel: a node that hears of a suspicion
// from another checks the suspect itself. A stopped peer (refused) gets the
// short timer without confirmations; a live one keeps upstream's timer.
func TestKumaHeardSuspicionCheckedByKernel(t *testing.T) {
	for _, stopped := range []bool{true, false} {
		t.Run(fmt.Sprintf("stopped=%v", stopped), func(t *testing.T) {
			a := kumaNode(t, "a", 300*time.Millisecond)
			c := kumaNode(t, "c", 0)
			if _, err := a.Join([]string{c.LocalNode().Address()}); err != nil {
				t.Fatal(err)
			}
			a.nodeLock.RLock()
			inc := a.nodeMap["c"].Incarnation
			a.nodeLock.RUnlock()
			if stopped {
				if err := c.Shutdown(); err != nil {
					t.Fatal(err)
				}
			}
			a.suspectNode(&suspect{Incarnation: inc, Node: "c", From: "b"})
			// Wait for the check to end (bounded: kernelConnect's budget is
			// one ProbeInterval).
			deadline := time.Now().Add(10 * time.Second)
			for {
				a.unreachable.mu.Lock()
				n := len(a.unreachable.inFlight)
				a.unreachable.mu.Unlock()
				if n == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the kernel check never ended")
				}
				time.Sleep(10 * time.Millisecond)
			}
			a.nodeLock.RLock()
			timer := a.nodeTimers["c"]
			var gotMin time.Duration
			var gotK int32
			if timer != nil {
				gotMin, gotK = timer.min, timer.k
			}
			state := a.nodeMap["c"].State
			a.nodeLock.RUnlock()
			upstreamMin := suspicionTimeout(a.config.SuspicionMult, a.estNumNodes(), a.config.ProbeInterval)
			switch {
			case stopped && timer == nil && state != StateDead:
				t.Fatalf("stopped: no timer and c is %v", state)
			case stopped && timer != nil && (gotMin != 300*time.Millisecond || gotK != 0):
				t.Errorf("stopped: timer min=%v k=%d, want 300ms and 0", gotMin, gotK)
			case !stopped && timer == nil:
				t.Fatal("live: the suspicion's timer is gone")
			case !stopped && gotMin != upstreamMin:
				t.Errorf("live: timer min=%v, want upstream's %v (the kernel completed the handshake)", gotMin, upstreamMin)
			}
		})
	}
}

// TestKumaStaleSuspicionChecked: a suspect or dead message naming an older
// incarnation than this node knows (upstream ignores both: the accuser had
// not heard of the node's latest alive message) makes this node check the
// suspect itself. A stopped one is then suspected here (stale suspect),
// with the incarnation known here and the short timer, or declared dead
// here at once (stale dead: the accuser's verdict and this node's check
// agree), with the incarnation known here.
func TestKumaStaleSuspicionChecked(t *testing.T) {
	for _, msg := range []string{"suspect", "dead"} {
		t.Run(msg, func(t *testing.T) { staleChecked(t, msg) })
	}
}

func staleChecked(t *testing.T, msg string) {
	// a's own probes are out of the way (the first comes at a random time
	// within one interval: an hour), so only the stale message can start
	// the suspicion; its short timer is an hour too, so a suspicion here
	// cannot turn into a death within the test: a death is the stale dead
	// message's own path.
	a := kumaNode(t, "a", time.Hour, func(c *Config) { c.ProbeInterval = time.Hour })
	c := kumaNode(t, "c", 0)
	if _, err := a.Join([]string{c.LocalNode().Address()}); err != nil {
		t.Fatal(err)
	}
	cn := c.LocalNode()
	a.nodeLock.RLock()
	inc := a.nodeMap["c"].Incarnation
	a.nodeLock.RUnlock()
	// c's newer alive message (a tag change), then c dies.
	a.aliveNode(&alive{Incarnation: inc + 1, Node: "c", Addr: cn.Addr, Port: cn.Port, Meta: cn.Meta, Vsn: c.config.BuildVsnArray()}, nil, false)
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if msg == "dead" {
		a.deadNode(&dead{Incarnation: inc, Node: "c", From: "b"})
	} else {
		a.suspectNode(&suspect{Incarnation: inc, Node: "c", From: "b"})
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.nodeLock.RLock()
		timer := a.nodeTimers["c"]
		st := a.nodeMap["c"]
		state, stInc := st.State, st.Incarnation
		var gotMin time.Duration
		var gotK int32
		if timer != nil {
			gotMin, gotK = timer.min, timer.k
		}
		a.nodeLock.RUnlock()
		if timer != nil || state == StateDead {
			if stInc != inc+1 {
				t.Errorf("%v with incarnation %d, want the one known here, %d", state, stInc, inc+1)
			}
			switch {
			case msg == "suspect" && (state != StateSuspect || timer == nil || gotMin != time.Hour || gotK != 0):
				t.Errorf("stale suspect: %v, timer %v min=%v k=%d; want suspect with the short timer (1h here), k=0", state, timer != nil, gotMin, gotK)
			case msg == "dead" && (state != StateDead || timer != nil):
				t.Errorf("stale dead: %v, timer %v; want dead at once, no suspicion", state, timer != nil)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("c still %v with no suspicion: the stale %s message was not checked", state, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKumaHearerChecksStandDownInStorm: with more than maxSuspicionsChecked
// suspicions running here, a heard suspicion is not checked (no connection,
// upstream's timer).
func TestKumaHearerChecksStandDownInStorm(t *testing.T) {
	a := kumaNode(t, "a", 300*time.Millisecond, func(c *Config) { c.ProbeInterval = time.Hour })
	c := kumaNode(t, "c", 0)
	if _, err := a.Join([]string{c.LocalNode().Address()}); err != nil {
		t.Fatal(err)
	}
	a.nodeLock.Lock()
	inc := a.nodeMap["c"].Incarnation
	for i := 0; i <= maxSuspicionsChecked; i++ { // a storm: suspicions of others
		a.nodeTimers[fmt.Sprintf("other-%d", i)] = newSuspicion("x", 1, time.Hour, time.Hour, func(int) {})
	}
	a.nodeLock.Unlock()
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	a.suspectNode(&suspect{Incarnation: inc, Node: "c", From: "b"})
	a.unreachable.mu.Lock()
	n := len(a.unreachable.inFlight)
	a.unreachable.mu.Unlock()
	timer := viewTimer(a, "c")
	upstreamMin := suspicionTimeout(a.config.SuspicionMult, a.estNumNodes(), a.config.ProbeInterval)
	if n != 0 || timer == nil || timer.min != upstreamMin {
		t.Errorf("in a storm: %d checks started, timer %v; want none and upstream's min %v", n, timer != nil, upstreamMin)
	}
	a.nodeLock.Lock()
	for i := 0; i <= maxSuspicionsChecked; i++ {
		a.nodeTimers[fmt.Sprintf("other-%d", i)].timer.Stop()
		delete(a.nodeTimers, fmt.Sprintf("other-%d", i))
	}
	a.nodeLock.Unlock()
}

// TestKumaSuspicionMinTimeoutFloor: a node suspected by a probe that found
// it reachable (alive, maybe slow) gets at least SuspicionMinTimeout, and a
// lone accuser's max is never under it; one that refused (gone) still gets
// the unreachable timeout; 0 keeps upstream's timing.
func TestKumaSuspicionMinTimeoutFloor(t *testing.T) {
	for _, tc := range []struct {
		floor    time.Duration
		fast     *fastSuspicion
		wantMin  time.Duration // 0: upstream's
		wantMaxF bool          // max must be at least the floor
	}{
		{floor: 5 * time.Second, wantMin: 5 * time.Second, wantMaxF: true},
		{floor: 5 * time.Second, fast: &fastSuspicion{min: 600 * time.Millisecond, noConfirmations: true}, wantMin: 600 * time.Millisecond, wantMaxF: true},
		{floor: 0},
		{floor: time.Millisecond}, // under upstream's: upstream's
	} {
		t.Run(fmt.Sprintf("floor=%v,fast=%v", tc.floor, tc.fast != nil), func(t *testing.T) {
			a := kumaNode(t, "a", 600*time.Millisecond, func(c *Config) { c.SuspicionMinTimeout = tc.floor })
			b := kumaNode(t, "b", 0)
			if _, err := a.Join([]string{b.LocalNode().Address()}); err != nil {
				t.Fatal(err)
			}
			a.nodeLock.RLock()
			inc := a.nodeMap["b"].Incarnation
			a.nodeLock.RUnlock()
			a.suspectNodeWith(&suspect{Incarnation: inc, Node: "b", From: "a"}, tc.fast)
			timer := viewTimer(a, "b")
			if timer == nil {
				t.Fatal("no suspicion timer for b")
			}
			upstreamMin := suspicionTimeout(a.config.SuspicionMult, a.estNumNodes(), a.config.ProbeInterval)
			want := tc.wantMin
			if want == 0 {
				want = upstreamMin
			}
			if timer.min != want {
				t.Errorf("timer min=%v, want %v (upstream's %v)", timer.min, want, upstreamMin)
			}
			if tc.wantMaxF && timer.max < tc.floor {
				t.Errorf("timer max=%v under the floor %v", timer.max, tc.floor)
			}
		})
	}
}

// TestKumaLastPingSparesAnsweringSuspect: when a suspicion timer of a node
// whose kernel still answered runs out, the node is asked for one ping
// over TCP first (SuspicionLastPingTimeout). Alive and answering: not
// declared dead, back to alive here at the same incarnation (not through a
// refutation: nothing was gossiped to it). Stopped (refused), or a hung
// process (its listener accepts, nothing answers): dead. A suspicion raised
// on unreachable evidence, or the option off: dead without a ping, as
// upstream (the live peer here is declared dead: the timer is called
// directly, before any refutation could arrive).
func TestKumaLastPingSparesAnsweringSuspect(t *testing.T) {
	hung := hungListener(t)

	for _, tc := range []struct {
		name     string
		lastPing time.Duration
		peer     string // "live", "stopped", "hung"
		fast     bool
		wantDead bool
	}{
		{name: "live answers", lastPing: time.Second, peer: "live"},
		{name: "stopped", lastPing: time.Second, peer: "stopped", wantDead: true},
		{name: "hung", lastPing: 300 * time.Millisecond, peer: "hung", wantDead: true},
		{name: "unreachable evidence", lastPing: time.Second, peer: "live", fast: true, wantDead: true},
		{name: "option off", lastPing: 0, peer: "live", wantDead: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// No probes (ProbeInterval an hour): nothing may carry the
			// suspicion to the suspect, so it cannot refute.
			noProbes := func(c *Config) {
				c.ProbeInterval = time.Hour
				c.SuspicionLastPingTimeout = tc.lastPing
			}
			a := kumaNode(t, "a", 300*time.Millisecond, noProbes)
			b := kumaNode(t, "b", 0, noProbes)
			if _, err := a.Join([]string{b.LocalNode().Address()}); err != nil {
				t.Fatal(err)
			}
			node := "b"
			switch tc.peer {
			case "stopped":
				if err := b.Shutdown(); err != nil {
					t.Fatal(err)
				}
			case "hung":
				node = "h"
				fakeNode(a, node, hung.Addr())
			}
			a.nodeLock.RLock()
			st, ok := a.nodeMap[node]
			var inc uint32
			if ok {
				inc = st.Incarnation
			}
			a.nodeLock.RUnlock()
			if !ok {
				t.Fatalf("%s unknown to a", node)
			}
			var fast *fastSuspicion
			if tc.fast {
				fast = &fastSuspicion{min: time.Hour}
			}
			a.suspectNodeWith(&suspect{Incarnation: inc, Node: node, From: "c"}, fast)
			a.nodeLock.Lock()
			timer := a.nodeTimers[node]
			a.nodeLock.Unlock()
			if timer == nil {
				t.Fatalf("no suspicion timer for %s", node)
			}
			timer.timer.Stop()
			timer.timeoutFn() // the timer runs out

			a.nodeLock.RLock()
			state, gotInc, pending := a.nodeMap[node].State, a.nodeMap[node].Incarnation, a.nodeTimers[node]
			a.nodeLock.RUnlock()
			if tc.wantDead {
				if state != StateDead {
					t.Errorf("%s is %v after its timer ran out, want dead", node, state)
				}
				return
			}
			if state != StateAlive || gotInc != inc || pending != nil {
				t.Errorf("%s is %v at incarnation %d (timer left: %v), want alive at %d with no timer: it answered the last ping",
					node, state, gotInc, pending != nil, inc)
			}
		})
	}
}

// TestKumaLastPingsBounded: with maxLastPings last pings in flight, a timer
// that runs out declares as upstream, without a connection.
func TestKumaLastPingsBounded(t *testing.T) {
	a := kumaNode(t, "a", 300*time.Millisecond, func(c *Config) {
		c.ProbeInterval = time.Hour
		c.SuspicionLastPingTimeout = time.Second
	})
	b := kumaNode(t, "b", 0, func(c *Config) { c.ProbeInterval = time.Hour })
	if _, err := a.Join([]string{b.LocalNode().Address()}); err != nil {
		t.Fatal(err)
	}
	a.lastPings.Store(maxLastPings)
	a.nodeLock.RLock()
	inc := a.nodeMap["b"].Incarnation
	a.nodeLock.RUnlock()
	a.suspectNodeWith(&suspect{Incarnation: inc, Node: "b", From: "c"}, nil)
	a.nodeLock.Lock()
	timer := a.nodeTimers["b"]
	a.nodeLock.Unlock()
	timer.timer.Stop()
	timer.timeoutFn()
	a.nodeLock.RLock()
	state := a.nodeMap["b"].State
	a.nodeLock.RUnlock()
	if state != StateDead || a.lastPings.Load() != maxLastPings {
		t.Errorf("b is %v, %d last pings counted; want dead (no slot: upstream's verdict) and the count unchanged at %d", state, a.lastPings.Load(), maxLastPings)
	}
}

// TestKumaOwnProbeHastensHeardSuspicion: a suspicion heard from another
// node of a node whose kernel then still answered keeps upstream's timing;
// when this node's own probe later finds the node's port refusing, the
// same timer is hastened (the unreachable timeout, no confirmations), not
// only confirmed.
func TestKumaOwnProbeHastensHeardSuspicion(t *testing.T) {
	ln := hungListener(t)
	// The floor keeps the heard timer long; the unreachable timeout is
	// under it and over the time the test takes, so the hastened timer
	// does not run out while it is read.
	a := kumaNode(t, "a", 2*time.Second, func(c *Config) { c.SuspicionMinTimeout = 5 * time.Second })
	fakeNode(a, "h", ln.Addr())

	a.suspectNode(&suspect{Incarnation: 1, Node: "h", From: "c"}) // heard; its check connects
	deadline := time.Now().Add(5 * time.Second)
	for {
		a.unreachable.mu.Lock()
		n := len(a.unreachable.inFlight)
		a.unreachable.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the heard suspicion's check did not end")
		}
		time.Sleep(10 * time.Millisecond)
	}
	heard := viewTimer(a, "h")
	if heard == nil || heard.unreachable || heard.min != 5*time.Second {
		t.Fatalf("heard suspicion: timer %+v, want the floor's timing (its check connected)", heard)
	}

	_ = ln.Close() // the process is gone: refused from now on
	timer := probeOnce(t, a, "h")
	if timer == nil || timer.s != heard.s {
		t.Fatalf("the probe left another timer (%+v, heard %+v)", timer, heard)
	}
	if !timer.unreachable || timer.min != 2*time.Second || timer.k != 0 {
		t.Errorf("heard timer after a refused probe: unreachable=%v min=%v k=%d, want true 2s 0", timer.unreachable, timer.min, timer.k)
	}
}

// TestKumaFallbackFailedAfterConnectRechecked: the probe's TCP ping
// connected, then its connection failed (the process was killed while the
// probe was in flight: here a listener that takes the connection, stops
// listening and drops it). The prober asks the kernel afresh and, refused,
// suspects with the unreachable timing, as for a failed dial.
func TestKumaFallbackFailedAfterConnectRechecked(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		c, err := ln.Accept()
		_ = ln.Close() // gone: refused from now on
		if err == nil {
			_ = c.Close()
		}
	}()
	defer ln.Close()
	a := kumaNode(t, "a", 300*time.Millisecond)
	fakeNode(a, "h", ln.Addr())
	timer := probeOnce(t, a, "h")
	if timer == nil {
		t.Fatal("no suspicion of h")
	}
	if !timer.unreachable || timer.min != 300*time.Millisecond || timer.k != 0 {
		t.Errorf("timer unreachable=%v min=%v k=%d, want true 300ms 0 (refused when asked again)", timer.unreachable, timer.min, timer.k)
	}
}

// TestKumaLateNacksCountForHealth: a probe of a hung peer fails; its three
// indirect peers are healthy and nack, but only after the probe's deadline
// (ProbeTimeout 150 ms on each side of a 200 ms probe). Upstream counts
// none of them and raises the prober's health score by 3; with
// LateNackWindow they count, and a healthy prober keeps a score of 0.
func TestKumaLateNacksCountForHealth(t *testing.T) {
	hung := hungListener(t)
	for _, tc := range []struct {
		name   string
		window time.Duration
	}{{"upstream", 0}, {"late nacks counted", 400 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			timing := func(c *Config) {
				c.ProbeTimeout = 150 * time.Millisecond
				c.LateNackWindow = tc.window
			}
			a := kumaNode(t, "a", 0, timing)
			for _, name := range []string{"p1", "p2", "p3"} {
				p := kumaNode(t, name, 0, timing)
				if _, err := a.Join([]string{p.LocalNode().Address()}); err != nil {
					t.Fatal(err)
				}
			}
			fakeNode(a, "h", hung.Addr())
			a.awareness.ApplyDelta(-100) // whatever the joins did: 0
			probeOnce(t, a, "h")
			score := a.GetHealthScore()
			if tc.window == 0 {
				// Successful probes of the peers (the ticker runs) take
				// a point each, at most one in the few ms since.
				if score < 2 {
					t.Fatalf("upstream: health score %d after a failed probe with late nacks, want 3 (2 if a probe since succeeded)", score)
				}
				return
			}
			time.Sleep(tc.window + 200*time.Millisecond)
			if score, now := score, a.GetHealthScore(); score != 0 || now != 0 {
				t.Fatalf("late nacks counted: health score %d after the probe, %d after the window, want 0 (three nacks arrived)", score, now)
			}
		})
	}
}

// TestKumaMembershipFirst: a dead message that arrives in the middle of a
// burst of user messages (a query's answers) is handed over first with
// MembershipFirst; upstream hands it over after every user message that
// arrived later (newest first), and a suspect message likewise.
func TestKumaMembershipFirst(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first bool
	}{{"upstream", false}, {"membership first", true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultLANConfig()
			c.HandoffQueueDepth = 1024
			c.MembershipFirst = tc.first
			m := &Memberlist{
				config:               c,
				logger:               log.New(io.Discard, "", 0),
				highPriorityMsgQueue: list.New(),
				lowPriorityMsgQueue:  list.New(),
				handoffCh:            make(chan struct{}, 1),
			}
			from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7946}
			send := func(typ messageType, msg any) {
				buf, err := encode(typ, msg, false)
				if err != nil {
					t.Fatal(err)
				}
				m.handleCommand(buf.Bytes(), from, time.Now())
			}
			for i := range 100 {
				send(userMsg, []byte{byte(i)})
			}
			send(deadMsg, &dead{Incarnation: 1, Node: "victim", From: "prober"})
			send(suspectMsg, &suspect{Incarnation: 1, Node: "other", From: "prober"})
			for i := range 100 {
				send(userMsg, []byte{byte(i)})
			}
			var order []messageType
			for {
				msg, ok := m.getNextMessage()
				if !ok {
					break
				}
				order = append(order, msg.msgType)
			}
			if len(order) != 202 {
				t.Fatalf("handed over %d messages, want 202", len(order))
			}
			at := slices.Index(order, deadMsg)
			sat := slices.Index(order, suspectMsg)
			if tc.first && (at > 1 || sat > 1) {
				t.Fatalf("membership first: the dead message handed over %dth, the suspect %dth, want both within the first two", at+1, sat+1)
			}
			if !tc.first && (at < 100 || sat < 100) {
				t.Fatalf("upstream: the dead message handed over %dth, the suspect %dth, want after the 100 later user messages", at+1, sat+1)
			}
		})
	}
}

// TestKumaGossipDeadAtOnce: with no gossip ticker at all (GossipInterval
// an hour), a verdict reaches the other nodes with GossipDeadAtOnce and
// stays where it was queued without it; a suspicion and a refutation wait
// for the ticker either way.
func TestKumaGossipDeadAtOnce(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("GossipDeadAtOnce=%v", on), func(t *testing.T) {
			quiet := func(c *Config) {
				c.GossipDeadAtOnce = on
				c.ProbeInterval = time.Hour // no probes: nothing but the news moves
				c.PushPullInterval = 0
			}
			a := kumaNode(t, "a", 0, quiet)
			b := kumaNode(t, "b", 0, quiet)
			c := kumaNode(t, "c", 0, quiet)
			// Joins are push/pull exchanges: c joins both so that all
			// three know all three without a gossip round.
			if _, err := b.Join([]string{a.LocalNode().Address()}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Join([]string{a.LocalNode().Address(), b.LocalNode().Address()}); err != nil {
				t.Fatal(err)
			}
			victim := hungListener(t).Addr()
			for _, m := range []*Memberlist{a, b, c} {
				fakeNode(m, "victim", victim)
			}
			state := func(m *Memberlist, node string) (NodeStateType, uint32) {
				m.nodeLock.RLock()
				defer m.nodeLock.RUnlock()
				st := m.nodeMap[node]
				if st == nil {
					t.Fatalf("%s does not know %s", m.config.Name, node)
				}
				return st.State, st.Incarnation
			}
			// arrives: the news must arrive within 5 s (far more than a
			// round on loopback), or must not within 1 s.
			arrives := func(what string, want bool, ok func() bool) {
				t.Helper()
				wait := time.Second
				if want {
					wait = 5 * time.Second
				}
				for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
					if ok() {
						if !want {
							t.Fatalf("%s arrived without a gossip tick", what)
						}
						return
					}
				}
				if want {
					t.Fatalf("%s did not arrive within 5 s", what)
				}
			}

			// (suspicion timers scale with ProbeInterval: an hour here.)
			a.suspectNode(&suspect{Incarnation: 1, Node: "victim", From: "a"})
			arrives("a's suspicion of victim", false, func() bool {
				sb, _ := state(b, "victim")
				sc, _ := state(c, "victim")
				return sb == StateSuspect || sc == StateSuspect
			})

			_, inc := state(b, "b")
			b.suspectNode(&suspect{Incarnation: inc, Node: "b", From: "a"})
			arrives("b's refutation", false, func() bool {
				_, ia := state(a, "b")
				_, ic := state(c, "b")
				return ia > inc || ic > inc
			})

			a.deadNode(&dead{Incarnation: 1, Node: "victim", From: "a"})
			arrives("a's verdict on victim", on, func() bool {
				sb, _ := state(b, "victim")
				sc, _ := state(c, "victim")
				return sb == StateDead && sc == StateDead
			})
		})
	}
}

// TestKumaNodeIncarnation: the number is the one the node itself holds,
// seen alike by a peer, moves with a refutation, and an unknown member
// has none.
func TestKumaNodeIncarnation(t *testing.T) {
	a := kumaNode(t, "a", 0)
	b := kumaNode(t, "b", 0)
	if _, err := a.Join([]string{b.LocalNode().Address()}); err != nil {
		t.Fatal(err)
	}
	own, ok := b.NodeIncarnation("b")
	if !ok || own == 0 {
		t.Fatalf("b's own incarnation: %d, %v", own, ok)
	}
	if seen, ok := a.NodeIncarnation("b"); !ok || seen != own {
		t.Fatalf("a sees b at incarnation %d (%v), b holds %d", seen, ok, own)
	}
	b.suspectNode(&suspect{Incarnation: own, Node: "b", From: "a"}) // b refutes
	if now, _ := b.NodeIncarnation("b"); now <= own {
		t.Fatalf("after refuting, b's incarnation is %d, was %d", now, own)
	}
	if inc, ok := a.NodeIncarnation("nobody"); ok || inc != 0 {
		t.Fatalf("an unknown member: %d, %v", inc, ok)
	}
}

// A join address by name resolves through Go's resolver alone: the TCP-first
// lookup with github.com/miekg/dns is gone (DNSConfigPath ignored, even
// pointing nowhere: upstream failed there and fell back) and IPs pass
// through. localhost comes from /etc/hosts, so nothing leaves the machine.
func TestKumaResolveAddrWithoutTCPFirst(t *testing.T) {
	m := kumaNode(t, "resolver", 0, func(c *Config) { c.DNSConfigPath = "/nonexistent/resolv.conf" })
	ips, err := m.resolveAddr("node-a/localhost:7946")
	if err != nil || len(ips) == 0 {
		t.Fatalf("localhost: %v, %v", ips, err)
	}
	for _, ip := range ips {
		if !ip.ip.IsLoopback() || ip.port != 7946 || ip.nodeName != "node-a" {
			t.Errorf("localhost resolved to %+v", ip)
		}
	}
	if ips, err := m.resolveAddr("192.0.2.7"); err != nil || len(ips) != 1 || ips[0].ip.String() != "192.0.2.7" || ips[0].port != uint16(m.config.BindPort) {
		t.Errorf("an IP: %+v, %v", ips, err)
	}
	// (No unresolvable name: its query would leave the machine.)
}
