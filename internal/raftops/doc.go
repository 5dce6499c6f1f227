// Package raftops performs KUMA's documented Core recoveries
// (internal/raftproc plans them) through the agents: `kuma-agent raft
// remove-node NODE --execute` and `raft restore-cluster --initial NODE
// --execute`.
//
// The agent the CLI asks coordinates (Coordinator: one node at a time, each
// step an event, stopping at the first failure); each step runs on its
// node's own agent (Target), asked over NATS on the ops subjects
// (natsbus.OpsSubject: the server proves the sender). A request names a
// procedure and a step of the fixed table (steps.go) and carries values
// only (node names, the Core's service ID, the operation id): never a
// command, never a path. The target accepts only a requester the inventory
// names, re-checks the step's precondition on its own view of the cluster,
// takes a backup before anything that removes or resets a Core's state
// (refused when the backup fails), then acts with systemd over D-Bus and
// file operations under its configured directories.
package raftops
