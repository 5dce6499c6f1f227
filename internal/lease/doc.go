// Package lease is kuma-agent's cluster-wide coordination lease: a mutual
// exclusion record in a JetStream key-value bucket that lets the agents heal
// one node at a time.
//
// # Record and keys
//
// A lease is one key in the bucket (default "kuma_leases", History 1). The
// key is the purpose escaped to the KV key alphabet (see [Key]); the value is
// a JSON [Record]: holder, purpose, acquisition time and the holder's claimed
// expiry. Every write is a compare-and-set on the key's revision, so two
// agents can never both believe a write of theirs won.
//
// # Acquire
//
//   - No record (never written, or released): Create wins; the loser of a
//     race sees the winner's record and is refused.
//   - Record held by this node (e.g. the agent restarted): re-acquired by a
//     CAS Update; a *Lease from before the restart is then lost.
//   - Record held by a node the mesh marks failed (or left) AND whose expiry
//     has passed: taken over by a CAS Update and reported as
//     lease.taken_over with the previous holder. A holder the mesh calls
//     failed that still renews through NATS (cut off from the gossip, not
//     from NATS) is still acting, so it keeps the lease until it stops.
//   - Record held by anyone else: refused with [ErrHeld] — EVEN IF ITS
//     EXPIRY HAS PASSED.
//
// Expiry alone never frees a lease. An expired record only proves that the
// holder did not renew; a holder that is slow, paused or partitioned from
// NATS may still be restarting services. Freeing locks on a bare TTL is how
// kured-style reboot locks caused cascading reboots: the lock lapsed while
// its holder was still mid-reboot and the next node started too. And as
// Pacemaker learnt with D-Bus hiccups, "cannot tell" must mean "unknown",
// never "failed". So what frees a holder's lease is the mesh's failure
// verdict together with the expiry (serf marks the node failed or left after its
// suspicion protocol has collected confirmations from other members), given
// through [Liveness]. A lease stuck on an expired but not failed holder is a
// condition to alert on, not to resolve automatically.
//
// The lease is also tied to quorum: with a replicated bucket (Replicas 3)
// every Create/Update/Delete is a RAFT write that needs a majority of the
// JetStream servers, so agents in a minority partition cannot acquire or
// take over anything.
//
// # Holding
//
// Renew and Release are CAS writes on the revision the lease last wrote; if
// the revision moved (taken over, or re-acquired elsewhere) they return
// [ErrLost] and change nothing. KeepAlive renews every RenewEvery and reports
// the loss; it also reports [ErrExpired] when renewals kept failing until the
// lease's own expiry passed, so a holder cut off from NATS stops acting (it
// can no longer learn of a takeover). A holder must stop the guarded work as
// soon as either arrives.
//
// # Orphans
//
// By the rules above nobody else frees a record whose holder is alive, so
// a record its own node no longer holds — a Release whose Delete failed
// (no JetStream quorum for a moment), an agent restarted mid-action —
// would stop every other node's healing for as long as that node lives.
// Each process remembers what it holds or is acquiring ([Holds], shared
// by all its Managers), Release gives the lease up even when its Delete
// fails, and [Manager.ReleaseOrphans], which the agent runs every TTL,
// deletes (CAS) the records that name this node and that nothing here
// holds. Only the holder's own node frees them: that is the one node that
// knows it has stopped acting.
//
// Every state change (acquired, renewed, released, taken_over) is reported
// through Options.OnEvent as an events.LeaseData.
package lease
