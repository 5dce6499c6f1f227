package corefailover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/kube"
	"github.com/kuma-agent/kuma-agent/internal/kubechecks"
)

// API is the part of the Kubernetes API the failover reads and writes
// (kube.Client).
type API interface {
	kubechecks.Reader
	Node(ctx context.Context, name string) (kube.Node, error)
	AddTaint(ctx context.Context, n kube.Node, t kube.Taint, note string) error
	RemoveTaint(ctx context.Context, n kube.Node, t kube.Taint) error
}

// Failover runs the decisions on the cluster evaluator and writes them.
type Failover struct {
	API       API
	Mode      Mode
	After     time.Duration
	Core      kubechecks.CoreSelector
	Overrides cluster.Overrides
	Self      string
	// Emit publishes one step (the agent's event outbox).
	Emit func(t events.Type, subject string, sev events.Severity, d events.TaintData)
	Log  *slog.Logger
	Now  func() time.Time
	// Holding, when set, re-checks right before each taint write that this
	// node still holds the cluster lease (the agent renews it: a CAS on
	// its revision). An evaluator that lost the lease between its decision
	// and the write (a pause, a partition) writes nothing: the new
	// evaluator decides on its own reading.
	Holding func(ctx context.Context) error

	mu sync.Mutex
	// announced is the last step announced per Node, so a step is
	// announced once per episode, not every pass.
	announced map[string]events.Type
	// undecided is the last logUndecided line.
	undecided string
}

// Round is what one pass sees of the mesh: a believed view (inventory,
// self, members) and whether it is a majority; Reach asks every member for
// its failing probes (a gossip query), called only when a Core worker is
// already failed in the mesh and NotReady.
type Round struct {
	View     clusterchecks.View
	Majority bool
	Reach    func(ctx context.Context) (map[string][]clusterchecks.Edge, error)
}

// Step makes one pass: read the Nodes and the Core pods, decide, write
// (ModeOn) and announce. It returns the actions decided.
func (f *Failover) Step(ctx context.Context, r Round) ([]Action, error) {
	if f.Mode != ModeOn && f.Mode != ModeDryRun {
		return nil, nil
	}
	if !r.Majority {
		// Nothing read, nothing written: a minority cannot tell a dead
		// worker from its own isolation.
		return nil, nil
	}
	nodes, err := f.API.Nodes(ctx, kube.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("core failover: %w", err)
	}
	pods, err := f.Core.CorePods(ctx, f.API)
	if err != nil {
		return nil, fmt.Errorf("core failover: %w", err)
	}
	in := Input{Now: f.Now(), Mode: f.Mode, After: f.After, Majority: r.Majority, Members: r.View.Members, Nodes: nodes}
	for _, p := range pods {
		if p.Spec.NodeName != "" {
			in.CoreNodes = append(in.CoreNodes, p.Spec.NodeName)
		}
	}
	suspects := Suspects(in)
	if len(suspects) > 0 && r.Reach != nil {
		reach, err := r.Reach(ctx)
		if err != nil {
			return nil, fmt.Errorf("core failover: the members' probes: %w", err)
		}
		v := r.View
		v.Reach = reach
		in.Unreachable = Paths(v, f.Overrides)
	}
	acts := Decide(in)
	f.logUndecided(suspects, in, acts)
	f.forgetSettled(acts)
	for _, a := range acts {
		f.carryOut(ctx, in, a)
	}
	return acts, nil
}

// logUndecided says, once per change, why a suspected Core worker (failed
// in the mesh past After, NotReady) has no action yet: the paths verdict
// (some path answered, or no member's probes answered in time).
func (f *Failover) logUndecided(suspects []string, in Input, acts []Action) {
	var why []string
	for _, n := range suspects {
		if slices.ContainsFunc(acts, func(a Action) bool { return a.Node == n }) {
			continue
		}
		members := map[string]clusterchecks.Member{}
		for _, m := range in.Members {
			members[m.Name] = m
		}
		p := in.Unreachable[n]
		if m, ok := memberOf(n, members); ok {
			p = in.Unreachable[m.Name]
		}
		why = append(why, fmt.Sprintf("%s: %d of %d probed paths failed (probers %v)", n, p.Failed, p.Probed, p.Probers))
	}
	msg := strings.Join(why, "; ")
	f.mu.Lock()
	same := msg == f.undecided
	f.undecided = msg
	f.mu.Unlock()
	if msg != "" && !same {
		f.Log.Info("core failover: Core worker suspected but not judged dead", "paths", msg)
	}
}

// carryOut writes one action (ModeOn) and announces it.
func (f *Failover) carryOut(ctx context.Context, in Input, a Action) {
	d := events.TaintData{Node: a.Node, Member: a.Member, Taint: taintText(kube.OutOfService), Mode: string(f.Mode),
		Reason: a.Reason, Evidence: a.Evidence, Evaluator: f.Self}
	for _, m := range in.Members {
		if m.Name == a.Member && m.Status == clusterchecks.StatusFailed && !m.Since.IsZero() {
			d.SinceVerdictMS = float64(in.Now.Sub(m.Since.Add(f.After)).Microseconds()) / 1000
		}
	}
	switch {
	case a.Kind == Hold:
		f.announce(events.TaintHeld, events.SeverityWarning, d)
	case f.Mode == ModeDryRun && a.Kind == Apply:
		f.announce(events.TaintWouldApply, events.SeverityWarning, d)
	case f.Mode == ModeDryRun:
		f.announce(events.TaintWouldRemove, events.SeverityInfo, d)
	default:
		typ, sev, err := f.write(ctx, a)
		if err != nil {
			d.Error = err.Error()
			if errors.Is(err, errNotHolder) {
				f.Log.Warn("core failover: the cluster lease is no longer this node's; nothing written", "node", a.Node, "action", a.Kind, "err", err)
				return
			}
			if kube.IsConflict(err) {
				// The Node changed under us: decided again next pass.
				f.Log.Info("core failover: node changed while writing; deciding again next pass", "node", a.Node, "err", err)
				return
			}
			f.announce(events.TaintFailed, events.SeverityCritical, d)
			f.Log.Error("core failover: taint not written", "node", a.Node, "action", a.Kind, "err", err)
			return
		}
		f.announce(typ, sev, d)
	}
}

// errNotHolder marks a write not made because the lease is not held.
var errNotHolder = errors.New("not the cluster lease holder")

// holding is Holding's verdict, errNotHolder-wrapped.
func (f *Failover) holding(ctx context.Context) error {
	if f.Holding == nil {
		return nil
	}
	if err := f.Holding(ctx); err != nil {
		return fmt.Errorf("%w: %w", errNotHolder, err)
	}
	return nil
}

// write applies or removes the taint on a Node read again just now: what
// the decision saw must still hold (NotReady to apply, Ready to remove),
// the lease must still be this node's (Holding, the last step before the
// PATCH), and the patch's test op refuses it if the Node changes in
// between.
func (f *Failover) write(ctx context.Context, a Action) (events.Type, events.Severity, error) {
	n, err := f.API.Node(ctx, a.Node)
	if err != nil {
		return "", "", err
	}
	if a.Kind == Apply {
		if n.Ready() == "True" {
			return "", "", fmt.Errorf("node %s is Ready again: not tainted", a.Node)
		}
		if err := f.holding(ctx); err != nil {
			return "", "", err
		}
		note := fmt.Sprintf("applied by kuma-agent on %s at %s", f.Self, f.Now().UTC().Format(time.RFC3339))
		return events.TaintApplied, events.SeverityCritical, f.API.AddTaint(ctx, n, kube.OutOfService, note)
	}
	if n.Ready() != "True" {
		return "", "", fmt.Errorf("node %s is not Ready again: taint kept", a.Node)
	}
	if err := f.holding(ctx); err != nil {
		return "", "", err
	}
	return events.TaintRemoved, events.SeverityInfo, f.API.RemoveTaint(ctx, n, kube.OutOfService)
}

// announce emits a step once per Node until its step changes.
func (f *Failover) announce(t events.Type, sev events.Severity, d events.TaintData) {
	f.mu.Lock()
	if f.announced == nil {
		f.announced = map[string]events.Type{}
	}
	same := f.announced[d.Node] == t
	f.announced[d.Node] = t
	f.mu.Unlock()
	if same {
		return
	}
	f.Log.Warn("core failover", "event", string(t), "node", d.Node, "mode", d.Mode, "reason", d.Reason, "evidence", d.Evidence, "err", d.Error)
	if f.Emit != nil {
		f.Emit(t, d.Node, sev, d)
	}
}

// forgetSettled forgets the announcements of Nodes no action is about:
// their episode ended, the next one is announced again.
func (f *Failover) forgetSettled(acts []Action) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for n := range f.announced {
		found := false
		for _, a := range acts {
			found = found || a.Node == n
		}
		if !found {
			delete(f.announced, n)
		}
	}
}

func taintText(t kube.Taint) string { return t.Key + "=" + t.Value + ":" + t.Effect }
