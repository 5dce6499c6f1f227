// Package mesh is the gossip layer of the kuma-agent daemon: an encrypted
// serf/memberlist cluster of the agents on one KUMA HA installation.
//
// It gives each agent membership (who is alive, failed, left), tags (small
// per-node metadata), fast failure detection tuned for 3..9 nodes (see
// ProfileLAN), keyring rotation, a snapshot so a restarted agent rejoins
// without operator help, and request/response queries for handlers that were
// registered locally. It never executes commands received from the network.
package mesh
