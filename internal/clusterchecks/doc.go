// Package clusterchecks holds the cluster-wide checks of kuma-agent: what no
// single node can see, computed from what the agents gossip (serf member
// tags) and answer to queries (clock, /etc/hosts, reachability, doctor).
//
// Everything here is a pure function of a View, so the daemon gathers the
// data and the checks stay testable without a network. Only the members the
// inventory vouches for are evidence (Believed): the members check reports
// the others, every other check ignores them. The package also
// owns the wire formats: the compact tag codec (serf caps a member's tags at
// 512 bytes) and the versioned, compressed query payload codec.
package clusterchecks
