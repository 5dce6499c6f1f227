// Package mesh is the gossip layer of the kuma-agent daemon: an encrypted
// serf/memberlist cluster of the agents on one KUMA HA installation.
//
// It gives each agent membership (who is alive, failed, left), tags (small
// per-node metadata), fast failure detection timed by cluster size
// (ProfileLAN, lanTimings), keyring rotation, a snapshot so a restarted agent rejoins
// without operator help, and request/response queries for handlers that were
// registered locally. It never executes commands received from the network.
//
// Every member's name is a host name: a merge delegate (memberGate) refuses,
// at join and for every alive message, a name that is not one (RFC 1123) and
// a name already alive at another address; refusals are counted
// (Stats.MembersRefused) and logged at most once a minute. What the mesh
// lists is still only what the members say: which of them to believe is
// the inventory's to decide (cluster.Vouch).
package mesh
