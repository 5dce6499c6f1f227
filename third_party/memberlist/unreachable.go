// kuma-agent patch (third_party/README.md): a faster suspicion for a node
// that a probe found unreachable at the network level.

package memberlist

import (
	"errors"
	"sync"
	"syscall"
	"time"
)

// dialFailure is the error of a TCP fallback ping that could not open its
// connection at all (as opposed to one that connected and got no ack).
type dialFailure struct{ err error }

func (d *dialFailure) Error() string { return "dial: " + d.err.Error() }
func (d *dialFailure) Unwrap() error { return d.err }

// unreachableKind says how a probe's TCP dial failed.
type unreachableKind int

const (
	// reachable: the dial was not tried, or it connected.
	reachable unreachableKind = iota
	// unreachableRefused: the peer's host answered that nothing listens on
	// the gossip port; the process is gone, whatever its load was.
	unreachableRefused
	// unreachableSilent: no answer to the handshake (a timeout, or the
	// network said the host cannot be reached). The host or the path to it
	// is down, or this node is itself cut off or too slow to see the answer.
	unreachableSilent
)

func (k unreachableKind) String() string {
	switch k {
	case unreachableRefused:
		return "its gossip port refused a TCP connection"
	case unreachableSilent:
		return "its gossip port did not answer a TCP connection"
	default:
		return "it accepted a TCP connection"
	}
}

// classifyDialFailure sorts a failed dial: refused is the only answer that
// proves the process is gone; everything else is silence.
func classifyDialFailure(err error) unreachableKind {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return unreachableRefused
	}
	return unreachableSilent
}

// recheckUnreachable asks the kernel again, with a connection of its own,
// after the fallback ping's dial failed with err: Go's dial reports a
// timeout whenever its deadline timer runs before the goroutine sees the
// handshake complete, which is what happens when this process is starved
// of CPU, not only when the peer is silent. kernelConnect's answer does not
// depend on when this process runs (kernelconnect_linux.go).
func recheckUnreachable(addr string, err error, budget time.Duration) unreachableKind {
	if kind := classifyDialFailure(err); kind == unreachableRefused {
		return kind
	}
	return kernelConnect(addr, budget)
}

// fastSuspicion overrides the timing of a suspicion this node raises.
type fastSuspicion struct {
	min             time.Duration
	noConfirmations bool
}

// unreachableSuspicion decides whether a probe or check that found kind
// may raise or shorten a suspicion with UnreachableSuspicionTimeout: a
// refused connection with no confirmation needed, silence still with the
// configured confirmations. Those confirmations come from other nodes over
// the network, so a node that is itself cut off (to which everything is
// silent) cannot get them and waits upstream's max, as a lone accuser does.
// An earlier version also required this node's health score to be 0; with
// the 300 ms probe the indirect peers' nacks arrive after the probe's
// deadline, so every failed probe raised the score and the busiest agents
// (the JetStream hubs) fell back to upstream's timing: the slowest observer
// in 1 of 20 cut-offs at 50 (3.2 s). nil: upstream's timing.
func (m *Memberlist) unreachableSuspicion(kind unreachableKind) *fastSuspicion {
	d := m.config.UnreachableSuspicionTimeout
	if d <= 0 {
		return nil
	}
	switch kind {
	case unreachableRefused:
		return &fastSuspicion{min: d, noConfirmations: true}
	case unreachableSilent:
		return &fastSuspicion{min: d}
	default:
		return nil
	}
}

// hasten lowers the suspicion's min to d (never raises it) and, with
// noConfirmations, its k to 0, and re-arms the timer for the new timing.
// Called with m.nodeLock held, as Confirm is.
func (s *suspicion) hasten(d time.Duration, noConfirmations bool) {
	if d < s.min {
		s.min = d
	}
	if noConfirmations {
		s.k = 0
	}
	s.unreachable = true
	elapsed := time.Since(s.start)
	var remaining time.Duration
	if s.n.Load() >= s.k {
		remaining = s.min - elapsed // enough confirmations: min from the start
	} else {
		remaining = remainingSuspicionTime(s.n.Load(), s.k, elapsed, s.min, s.max)
	}
	if s.timer.Stop() {
		if remaining > 0 {
			s.timer.Reset(remaining)
		} else {
			go s.timeoutFn()
		}
	}
}

// confirmUnreachable is this node's (self's) own evidence that the suspect
// is unreachable, from its probe or its check: the timer hastened to fast's
// timing and self's confirmation added. True: gossip self's suspect
// message (a new confirmation, or one needed by nobody: refused). Called
// with m.nodeLock held, as Confirm is.
func (s *suspicion) confirmUnreachable(self string, fast *fastSuspicion) bool {
	s.hasten(fast.min, fast.noConfirmations)
	return s.Confirm(self) || fast.noConfirmations
}

// maxUnreachableChecks bounds the kernel checks one node runs at a time
// for suspicions it heard of: a storm of suspicions must not become a storm
// of connections. A check that finds no slot is skipped (upstream timing).
// recheckAfterProbes is how long (in ProbeIntervals) a node is not
// checked again after a check of it ended: a suspect message arrives several times (every relay), and a
// live node should see one connection, not one per copy.
const (
	maxUnreachableChecks = 4
	recheckAfterProbes   = 4 // ProbeIntervals
	maxSuspicionsChecked = 3 // see checkSuspected
)

// unreachableChecks are the checks in flight and the recent ones, by node
// name; the zero value is ready.
type unreachableChecks struct {
	mu       sync.Mutex
	inFlight map[string]struct{}
	ended    map[string]time.Time
}

func (u *unreachableChecks) start(node string, now time.Time, quiet time.Duration) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.inFlight == nil {
		u.inFlight = make(map[string]struct{})
		u.ended = make(map[string]time.Time)
	}
	if _, ok := u.inFlight[node]; ok || len(u.inFlight) >= maxUnreachableChecks {
		return false
	}
	if at, ok := u.ended[node]; ok && now.Sub(at) < quiet {
		return false
	}
	for n, at := range u.ended { // keep the map to the recent ones
		if now.Sub(at) >= quiet {
			delete(u.ended, n)
		}
	}
	u.inFlight[node] = struct{}{}
	return true
}

func (u *unreachableChecks) done(node string, now time.Time) {
	u.mu.Lock()
	delete(u.inFlight, node)
	u.ended[node] = now
	u.mu.Unlock()
}

// checkSuspected runs when this node hears another node (from) accuse
// node: when it starts its own suspicion from that message, or when the
// message named an older incarnation than this node knows (the accuser had
// not yet heard of the node's latest alive message, as after a tag change
// just before it died; upstream ignores such a message, and the cluster
// then waits for a prober that has). It asks its own kernel for a
// handshake with the node's gossip port. Refused or silent, and it hastens
// its own timer as the prober did (unreachableSuspicion) and adds its own
// confirmation, gossiped as a suspect message from this node, so that the
// prober's timer (and everyone's) gets its confirmations within about one
// ProbeInterval instead of waiting for other nodes' next probes of the
// suspect; for an older incarnation it raises the suspicion itself, with
// the incarnation it knows. Connected: nothing; upstream's timing goes on.
//
// A dead message of an older incarnation (deadVerdict) is a verdict the
// accuser reached with its own confirmations; when this node's check
// agrees, it declares the node dead at once, at the incarnation it knows,
// and gossips that, instead of starting a suspicion of its own: upstream
// applies a dead message of the current incarnation with no check at all,
// so this is no weaker, and it spares the cluster a second full suspicion
// (measured at 50 agents: a node cut off just after it changed its tags
// was declared dead by its prober 2.1 s after the cut and by the last of
// the others, each through its own new suspicion, 1.4 s later).
//
// Called with m.nodeLock held. Nothing happens with the option off, for
// an accusation of this node (it refutes instead) or by this node (its own
// probe or check already decided the timing). It stands down while more
// than maxSuspicionsChecked nodes are under suspicion here at once: that is
// a storm of false suspicions (agents starved of CPU) or a partition, not
// a few dead nodes, and a connection from every agent to every suspect
// would only add load (upstream's timing applies then).
func (m *Memberlist) checkSuspected(from, node, addr string, incarnation uint32, deadVerdict bool) {
	if m.config.UnreachableSuspicionTimeout <= 0 || from == m.config.Name || node == m.config.Name {
		return
	}
	if len(m.nodeTimers) > maxSuspicionsChecked {
		return
	}
	if !m.unreachable.start(node, time.Now(), recheckAfterProbes*m.config.ProbeInterval) {
		return
	}
	go func() {
		defer func() { m.unreachable.done(node, time.Now()) }()
		kind := kernelConnect(addr, m.config.ProbeInterval)
		fast := m.unreachableSuspicion(kind)
		if fast == nil || m.hasShutdown() {
			return
		}
		m.nodeLock.Lock()
		timer, suspected := m.nodeTimers[node]
		state, known := m.nodeMap[node]
		switch {
		case !known || state.Incarnation != incarnation:
			m.nodeLock.Unlock() // refuted or changed meanwhile
		case deadVerdict && !state.DeadOrLeft():
			m.nodeLock.Unlock()
			m.logger.Printf("[INFO] memberlist: Marking %s as failed: %s declared an older incarnation dead and %s", node, from, kind)
			m.deadNode(&dead{Incarnation: incarnation, Node: node, From: m.config.Name})
		case state.State == StateAlive && !suspected:
			m.nodeLock.Unlock()
			m.logger.Printf("[INFO] memberlist: Suspect %s has failed: heard of a suspicion of an older incarnation and %s", node, kind)
			m.suspectNodeWith(&suspect{Incarnation: incarnation, Node: node, From: m.config.Name}, fast)
		case state.State == StateSuspect && suspected:
			m.logger.Printf("[INFO] memberlist: Confirming suspicion of %s: %s", node, kind)
			if timer.confirmUnreachable(m.config.Name, fast) {
				s := suspect{Incarnation: incarnation, Node: node, From: m.config.Name}
				m.encodeAndBroadcast(node, suspectMsg, &s)
			}
			m.nodeLock.Unlock()
		default:
			m.nodeLock.Unlock()
		}
	}()
}
