// kuma-agent patch (third_party/README.md): one last ping over TCP before a
// suspect whose kernel still answers is declared dead.

package memberlist

import (
	"time"
)

// maxLastPings bounds the last pings one node runs at a time. A node whose
// timers run out faster than that (a storm of suspicions: many agents
// starved at once, or a partition) declares the rest as upstream does; it
// must not open a connection to every suspect at once.
const maxLastPings = 4

// spareAnsweringSuspect runs when the suspicion timer of node (a copy of
// its state, taken when the timer ran out at the suspicion started at
// changeTime) ran out and nothing showed the node to be unreachable: every
// probe and check that reached its kernel completed the handshake, so its
// process still listens. That is a live node starved of CPU (or whose
// refutation this node, itself starved, has not read yet), or a hung one.
// Upstream declares it dead; this node first asks it for one ping over TCP,
// waiting SuspicionLastPingTimeout. A node that answers is alive: the
// suspicion is dropped here (its state back to alive at the same
// incarnation, which nothing gossips), and it returns true; the suspect
// refutes as usual when the suspicion reaches it, and a verdict another
// node gossips still applies here. No answer (a hung process, or a node
// gone since the last check), no slot free (maxLastPings), or the option
// off: false, and the caller declares the node dead as upstream does.
//
// Measured why (README, Figures: the soak at 50): a hearer starved of CPU
// declared a live collector dead when its own timer ran out, 4.7 s after the
// collector had refuted; it read the refutation 2.6 s later.
func (m *Memberlist) spareAnsweringSuspect(node *nodeState, changeTime time.Time, confirmations int) bool {
	wait := m.config.SuspicionLastPingTimeout
	if wait <= 0 || m.hasShutdown() {
		return false
	}
	if m.lastPings.Add(1) > maxLastPings {
		m.lastPings.Add(-1)
		return false
	}
	defer m.lastPings.Add(-1)

	selfAddr, selfPort := m.getAdvertise()
	p := ping{
		SeqNo:      m.nextSeqNo(),
		Node:       node.Name,
		SourceAddr: selfAddr,
		SourcePort: selfPort,
		SourceNode: m.config.Name,
	}
	answered, err := m.sendPingAndWaitForAck(node.FullAddress(), p, time.Now().Add(wait))
	if !answered {
		m.logger.Printf("[INFO] memberlist: %s did not answer a last ping over TCP when its suspicion ran out: %v", node.Name, err)
		return false
	}

	m.nodeLock.Lock()
	defer m.nodeLock.Unlock()
	state, ok := m.nodeMap[node.Name]
	if !ok || state.State != StateSuspect || !state.StateChange.Equal(changeTime) {
		// Refuted, declared dead by a gossiped verdict, or suspected anew
		// meanwhile: whatever happened is newer than this timer.
		return true
	}
	state.State = StateAlive
	state.StateChange = time.Now()
	delete(m.nodeTimers, node.Name)
	m.logger.Printf("[WARN] memberlist: Not marking %s as failed: it answered a ping over TCP when its suspicion ran out (%d peer confirmations); alive here until it refutes or a verdict arrives", node.Name, confirmations)
	return true
}
