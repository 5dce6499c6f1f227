// kuma-agent patch (third_party/README.md): a gossip round at once when
// this node learns that a member is dead.

package memberlist

// gossipDeadNews runs one gossip round now, besides the GossipInterval
// ticker, when GossipDeadAtOnce is set: called where this node queues a
// dead message that changed its view of a member (it declared the member
// dead, or heard so first). A round already on its way takes the news with
// it (it reads the broadcast queue when it runs), so several deaths at
// once start one round, not one per message.
//
// Why: upstream passes a verdict on at the next tick, so it reached a
// 50-agent cluster in about four hops of half a GossipInterval each when
// idle, and on a busy host each hop also waited for the ticker's goroutine
// to be scheduled after the one that read the message: 1.2-1.3 s from the
// first node that declared a cut-off node dead to the last of 49 (README,
// Figures). The round goes out while the goroutine that read the news is
// running. It sends nothing the ticker would not have sent (the message
// keeps its retransmit budget, spent sooner), and only for deaths: the
// same for suspicions and refutations, which a starved lab raises by the
// hundred, sent more packets for the same messages (fewer shared a
// packet) and fed the load that raised them (third_party/README.md).
func (m *Memberlist) gossipDeadNews() {
	if !m.config.GossipDeadAtOnce || m.hasShutdown() {
		return
	}
	if !m.deadRound.CompareAndSwap(false, true) {
		return // the round on its way reads this news too
	}
	go func() {
		// Cleared before the round reads the queue: news queued after
		// this starts a round of its own, news queued before is in this one.
		m.deadRound.Store(false)
		if !m.hasShutdown() {
			m.gossip()
		}
	}()
}
