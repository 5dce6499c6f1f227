// Package corefailover moves the KUMA Core off a dead worker in about a
// minute instead of Kubernetes' six: the cluster evaluator applies
// Kubernetes' non-graceful node shutdown taint (kube.OutOfService) to the
// worker that runs the Core pod once that worker is dead by three
// independent verdicts, and removes the taint when the worker is back.
//
// Kubernetes documents the taint only for a node that is really down: its
// pods are force-deleted and their volumes detached at once, so a node
// that still runs would have the Core's Longhorn volume attached twice.
// The three verdicts stand in for "really down": the gossip mesh failed
// it (memberlist's indirect probes through other members) for After, the
// Kubernetes node controller calls it NotReady, and every member that
// probes a port of it found every such port unreachable. Only a node that
// sees a majority of the cluster decides (a partitioned minority cannot
// tell a dead worker from its own isolation), under the cluster lease, and
// one taint at a time.
package corefailover

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/kube"
)

// Mode is how far the failover goes.
type Mode string

const (
	ModeOff    Mode = "off"     // nothing decided, nothing said
	ModeDryRun Mode = "dry-run" // decided and announced (would_apply), nothing written
	ModeOn     Mode = "on"      // the taint applied and removed
)

// Modes lists the valid modes (config validation).
var Modes = []Mode{ModeOff, ModeDryRun, ModeOn}

// Input is everything one decision reads; Decide is a pure function of it.
type Input struct {
	Now  time.Time
	Mode Mode
	// After is how long the mesh must have called the worker failed.
	After time.Duration
	// Majority: the deciding node sees a majority of the cluster alive
	// (the cluster-majority check is ok).
	Majority bool
	// Members are the believed mesh members (clusterchecks.Believed).
	Members []clusterchecks.Member
	// Unreachable maps a member to its reachability verdict (Paths).
	Unreachable map[string]PathVerdict
	// Nodes are the Kubernetes Nodes, read just now.
	Nodes []kube.Node
	// CoreNodes are the Kubernetes Nodes the Core pods are bound to.
	CoreNodes []string
}

// PathVerdict is what the members' probes say about the paths to a node.
type PathVerdict struct {
	// Probed counts the (member, port) paths probed to it; Failed those
	// that failed.
	Probed, Failed int
	// Probers are the members whose probes of it answered the query.
	Probers []string
}

// Dead: at least one path was probed and every probed path failed.
func (p PathVerdict) Dead() bool { return p.Probed > 0 && p.Failed == p.Probed }

// Kind is what an Action does.
type Kind string

const (
	Apply  Kind = "apply"
	Remove Kind = "remove"
	// Hold is a dead Core worker left untainted, and why (another taint
	// in place): announced, nothing written.
	Hold Kind = "hold"
)

// Action is one decision about one Node.
type Action struct {
	Kind Kind
	Node string // the Kubernetes Node
	// Member is the mesh member it is (may differ from Node in case or by
	// the domain part).
	Member string
	Reason string
	// Evidence lists the verdicts the decision rests on.
	Evidence []string
}

// Decide says which taint to apply or remove now: removals of the taints
// the agent applied on Nodes that are back (Ready and alive in the mesh),
// and at most one application, to a dead worker that runs the Core, only
// when no Node carries the out-of-service taint (one at a time). A minority
// view decides nothing, and neither does ModeOff.
func Decide(in Input) []Action {
	if in.Mode != ModeDryRun && in.Mode != ModeOn || !in.Majority {
		return nil
	}
	members := map[string]clusterchecks.Member{}
	for _, m := range in.Members {
		members[m.Name] = m
	}
	var out []Action
	tainted := 0
	for _, n := range in.Nodes {
		if !n.HasTaint(kube.OutOfService.Key, kube.OutOfService.Effect) {
			continue
		}
		tainted++
		if _, ours := n.Metadata.Annotations[kube.AppliedByAnnotation]; !ours {
			continue // an operator's taint: theirs to remove
		}
		m, ok := memberOf(n.Metadata.Name, members)
		if ok && m.Status == clusterchecks.StatusAlive && n.Ready() == "True" {
			out = append(out, Action{Kind: Remove, Node: n.Metadata.Name, Member: m.Name, Reason: "back: Ready in Kubernetes and alive in the mesh",
				Evidence: []string{"Kubernetes: Ready=True", "mesh: " + m.Name + " alive"}})
			tainted--
		}
	}
	byName := map[string]kube.Node{}
	for _, n := range in.Nodes {
		byName[n.Metadata.Name] = n
	}
	cores := slices.Clone(in.CoreNodes)
	slices.Sort(cores)
	cores = slices.Compact(cores)
	for _, name := range cores {
		n, ok := byName[name]
		if !ok || n.HasTaint(kube.OutOfService.Key, kube.OutOfService.Effect) {
			continue
		}
		m, ok := memberOf(name, members)
		if !ok {
			continue // no agent vouched for: no mesh verdict, never tainted
		}
		ev, dead := deadEvidence(in, n, m)
		if !dead {
			continue
		}
		if tainted > 0 {
			out = append(out, Action{Kind: Hold, Node: name, Member: m.Name, Evidence: ev,
				Reason: "another node carries the out-of-service taint: one at a time"})
			continue
		}
		out = append(out, Action{Kind: Apply, Node: name, Member: m.Name, Evidence: ev,
			Reason: "the worker running the KUMA Core is down: failed in the mesh, NotReady, unreachable on every probed path"})
		tainted++
	}
	return out
}

// Suspects are the Core workers the mesh and Kubernetes already call dead
// (failed for After, NotReady): the ones whose paths are worth a query.
func Suspects(in Input) []string {
	members := map[string]clusterchecks.Member{}
	for _, m := range in.Members {
		members[m.Name] = m
	}
	var out []string
	for _, n := range in.Nodes {
		if !slices.Contains(in.CoreNodes, n.Metadata.Name) {
			continue
		}
		m, ok := memberOf(n.Metadata.Name, members)
		if ok && failedFor(in, m) && notReady(n) {
			out = append(out, n.Metadata.Name)
		}
	}
	return out
}

func failedFor(in Input, m clusterchecks.Member) bool {
	return m.Status == clusterchecks.StatusFailed && !m.Since.IsZero() && in.Now.Sub(m.Since) >= in.After
}

// notReady: the node controller says False or Unknown (no condition yet
// is no verdict).
func notReady(n kube.Node) bool { r := n.Ready(); return r == "False" || r == "Unknown" }

// deadEvidence is the three verdicts on n (member m); all three must hold.
func deadEvidence(in Input, n kube.Node, m clusterchecks.Member) ([]string, bool) {
	if !failedFor(in, m) || !notReady(n) {
		return nil, false
	}
	p := in.Unreachable[m.Name]
	if !p.Dead() {
		return nil, false
	}
	return []string{
		fmt.Sprintf("mesh: %s failed for %s (after %s)", m.Name, in.Now.Sub(m.Since).Round(time.Second), in.After),
		"Kubernetes: Ready=" + n.Ready(),
		fmt.Sprintf("paths: %d of %d probed paths failed (probed by %s)", p.Failed, p.Probed, strings.Join(p.Probers, ", ")),
	}, true
}

// memberOf finds the mesh member that is Kubernetes Node name: the same
// name, or (kubelets register the short host name by default) the member
// whose first DNS label is name, when exactly one is. Case is folded:
// Kubernetes lowercases node names.
func memberOf(name string, members map[string]clusterchecks.Member) (clusterchecks.Member, bool) {
	for n, m := range members {
		if strings.EqualFold(n, name) {
			return m, true
		}
	}
	var found []clusterchecks.Member
	for n, m := range members {
		short, _, _ := strings.Cut(n, ".")
		if strings.EqualFold(short, name) {
			found = append(found, m)
		}
	}
	if len(found) == 1 {
		return found[0], true
	}
	return clusterchecks.Member{}, false
}
