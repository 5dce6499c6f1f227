package supervisor

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// Peer is one cluster node as this node's mesh sees it: a member the
// inventory vouches for (cluster.Vouch: its inventory name, at its
// inventory address), never one the inventory does not have.
type Peer struct {
	Name  string
	Alive bool // serf says alive (suspect counts as alive: not yet failed)
	// Healthy: its supervised units are fine as far as its gossip says.
	Healthy bool
	// Raft is the Core's Raft state it gossips: leader, follower, out, "".
	Raft string
}

// Action is what the supervisor wants to do, as the guard sees it.
type Action struct {
	Node  string // the node acted on (this node, or a dead member to remove)
	Unit  string
	Verb  string // "restart", "rejoin", "remove-member"
	Group Group
	// Removes: the action takes Node out of the group for good.
	Removes bool
	// TargetDown: the unit acted on is already not serving (a failed unit,
	// a Core out of its cluster), whatever Node's gossip last said.
	TargetDown bool
}

// Guard decides whether an action is safe, from the inventory and the mesh.
// It counts only peers the inventory has: a member of another name is no
// vote, alive or not.
type Guard struct {
	// Hosts are the inventory's host names (every one runs an agent): the
	// cluster's size, and the only names counted.
	Hosts []string
	// Groups lists each group's voters by node name.
	Groups map[Group][]string
}

// ClusterSize is the number of distinct inventory hosts.
func (g Guard) ClusterSize() int {
	return len(slices.Compact(slices.Sorted(slices.Values(g.Hosts))))
}

// rule is one guard condition; ok=false refuses with the reason.
type rule struct {
	name  string
	check func(g Guard, a Action, peers []Peer) (ok bool, reason string)
}

// guardRules: every rule must pass. Order matters only for which reason
// is reported first.
var guardRules = []rule{
	{"mesh-majority", meshMajority},
	{"group-quorum", groupQuorum},
}

// Allow returns nil when the action is safe, else an error with the reason.
// peers must include this node.
func (g Guard) Allow(a Action, peers []Peer) error {
	if a.Group == NoGroup {
		return nil
	}
	for _, r := range guardRules {
		if ok, why := r.check(g, a, peers); !ok {
			return fmt.Errorf("%s: %s", r.name, why)
		}
	}
	return nil
}

// meshMajority: a node that sees less than a majority of the cluster alive
// may be the minority side of a partition, and must not act for the group.
func meshMajority(g Guard, _ Action, peers []Peer) (bool, string) {
	size := g.ClusterSize()
	if size == 0 {
		return false, "no inventory: the cluster size is unknown"
	}
	alive := map[string]bool{}
	for _, p := range peers {
		if p.Alive && slices.Contains(g.Hosts, p.Name) {
			alive[p.Name] = true
		}
	}
	q := cluster.QuorumOf(size, len(alive))
	if !q.HasQuorum {
		return false, fmt.Sprintf("this node sees %d of %d inventory hosts alive (needs %d): it may be in a minority partition", len(alive), size, q.Needed)
	}
	return true, ""
}

// groupQuorum: after the action, the group's healthy voters must still be
// a quorum — unless the action takes nobody healthy down (starting a failed
// unit can only add a voter, so it is allowed even below quorum: that is
// how a group that lost quorum comes back).
func groupQuorum(g Guard, a Action, peers []Peer) (bool, string) {
	voters := g.Groups[a.Group]
	if len(voters) == 0 {
		return false, fmt.Sprintf("group %s has no voters in the inventory", a.Group)
	}
	healthy := map[string]bool{}
	for _, p := range peers {
		if p.Alive && p.Healthy && slices.Contains(voters, p.Name) {
			healthy[p.Name] = true
		}
	}
	if a.TargetDown {
		delete(healthy, a.Node)
	}
	n := len(voters)
	if a.Removes {
		n-- // the group shrinks; its quorum is computed on what remains
	}
	before := len(healthy)
	after := before
	if healthy[a.Node] {
		after--
	}
	q := cluster.QuorumOf(n, after)
	if q.HasQuorum || (!a.Removes && after == before) {
		return true, ""
	}
	var down []string
	for _, v := range voters {
		if !healthy[v] {
			down = append(down, v)
		}
	}
	return false, fmt.Sprintf("%s on %s would leave %d of %d %s voters healthy (quorum %d); unhealthy now: %s",
		a.Verb, a.Node, after, n, a.Group, q.Needed, strings.Join(down, ", "))
}
