// Package supervisor keeps the local KUMA Core, k0s and load-balancer
// units running without ever making an outage worse.
//
// It watches units over systemd's D-Bus signals (Backend), leaves fast
// crash loops to the unit's own Restart=, and acts only when a unit is
// `failed` or has hit its start limit: reset-failed and start, with
// jittered exponential backoff and a failure count that expires. A unit an
// operator stopped (inactive) is left alone. A D-Bus error or reconnect is
// "unknown", on which nothing is ever done.
//
// Per unit (a healing attempt is one pass through "healing"):
//
//	         ┌──────── active / activating (Restart= at work) ───────────┐
//	         v                                                          │
//	watching ──failed/start-limit──> waiting(backoff) ──due──> guarded ──┤
//	  │   ^                                │                     │      │
//	  │   └─────── inactive (operator) ────┘                     │ lease held,
//	  │                                            refused <─────┘ guard fails,
//	  │                                         (retried later)     minority
//	  │                                                              │
//	  └── attempts in window >= max ──> gave-up (check critical) <── healing
//
// Units of a quorum group (Raft Core services, k0s controllers) are healed
// only under the cluster lease ("heal", one node at a time) and only when
// the Guard allows it: this node sees a majority of the cluster in the mesh,
// and the group keeps its quorum after the action. Dry-run proposes instead
// of acting. Every action and refusal is an event.
//
// Only the inventory is believed: the peers it is given are the members the
// inventory vouches for, the guard counts no name outside the inventory,
// the Raft leader of a rejoin must be a Raft voter of the inventory and the
// rejoin dials the inventory's address for it, never a member's name. With
// no leader to rejoin, the rejoin is refused before the lease is taken.
package supervisor
