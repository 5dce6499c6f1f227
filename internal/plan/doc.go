// Package plan decides which checks apply to a node: it loads the cluster
// from the inventory, resolves who this node is (name and roles from the
// config or the inventory), and builds the list of checks its roles call
// for. `kuma-agent doctor` runs a plan once; the daemon runs the same plan
// on its schedule.
package plan
