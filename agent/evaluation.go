package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/events"
)

// newEvaluator is the continuous cluster checks of this agent: lease mode
// with events (one evaluator in the cluster), self mode without.
func (a *Agent) newEvaluator() *evaluator {
	c := a.cfg.Checks
	e := &evaluator{self: a.node.Name, interval: c.Interval, jitter: c.Jitter,
		warnAfter: c.FailuresBeforeWarning, critAfter: c.FailuresBeforeCritical, queryTimeout: a.queryTimeout(),
		gather: a.clusterDoctor, log: a.log.With("component", "cluster-evaluator"), now: time.Now,
		emit: func(d events.ClusterCheckData) {
			sev := map[string]events.Severity{"ok": events.SeverityInfo, "unknown": events.SeverityWarning,
				"warn": events.SeverityWarning, "crit": events.SeverityCritical}[d.Status]
			a.emit(events.ClusterStatusChanged, d.Check, sev, d)
		}}
	if a.locker != nil {
		e.coord = evalLease{l: a.locker, ttl: evaluatorTTLIntervals * c.Interval}
	}
	return e
}

// clusterReport answers `doctor --cluster`: the latest continuous
// evaluation (this node's when it is the evaluator, else the one the
// evaluator stored beside its lease), or a fresh one when asked or when
// none exists yet.
func (a *Agent) clusterReport(ctx context.Context, fresh bool) (control.ClusterReport, error) {
	if !fresh {
		if rep, _, ok := a.latestEvaluation(ctx); ok {
			return rep, nil
		}
	}
	rep, err := a.clusterDoctor(ctx)
	if err != nil {
		return rep, err
	}
	rep.Fresh, rep.Evaluator, rep.EvaluatedAt = true, a.node.Name, time.Now().UTC()
	return rep, nil
}

// latestEvaluation is the latest continuous evaluation: this node's, with
// the checks as gathered (their numbers: margins, skews, failing edges),
// when it evaluates; else the one the evaluator stored beside its lease,
// without them; false when there is none.
func (a *Agent) latestEvaluation(ctx context.Context) (control.ClusterReport, []clusterchecks.NamedResult, bool) {
	ev, evaluating := a.eval.snapshot()
	if ev != nil && evaluating {
		rep := ev.report
		rep.Self, rep.AgeSeconds = a.node.Name, time.Since(ev.at).Seconds()
		return rep, ev.raw, true
	}
	if a.eval.coord != nil {
		if rep, ok := a.storedEvaluation(ctx); ok {
			return rep, nil, true
		}
	}
	return control.ClusterReport{}, nil, false
}

// storedEvaluationTimeout bounds reading the stored evaluation.
const storedEvaluationTimeout = 2 * time.Second

// storedEvaluation is the evaluator's latest evaluation as stored beside
// its lease: the cluster-wide findings and statuses, not the per-node
// findings (the evaluator has those).
func (a *Agent) storedEvaluation(ctx context.Context) (control.ClusterReport, bool) {
	// Bounded: while JetStream elects a leader for the bucket a read can
	// wait for it; the CLI must get an answer (a fresh one) within its own
	// timeout instead.
	ctx, cancel := context.WithTimeout(ctx, storedEvaluationTimeout)
	defer cancel()
	b, ok, err := a.eval.coord.ReadState(ctx)
	if err != nil || !ok {
		if err != nil { // NATS not up yet, or the bucket electing a leader
			a.log.Debug("latest cluster evaluation unreadable; evaluating afresh", "err", err)
		}
		return control.ClusterReport{}, false
	}
	var st evalState
	if err := json.Unmarshal(b, &st); err != nil || st.Evaluator == "" {
		a.log.Warn("latest cluster evaluation malformed; evaluating afresh", "err", err)
		return control.ClusterReport{}, false
	}
	_, members := a.clusterMembers()
	rep := control.ClusterReport{Self: a.node.Name, Members: members, Nodes: []clusterchecks.DoctorReply{},
		Unanswered: append([]string{}, st.Unanswered...), Cluster: []clusterchecks.NamedResult{}, Status: st.Status,
		DurationMS: st.DurationMS, Evaluator: st.Evaluator, EvaluatedAt: st.At, AgeSeconds: time.Since(st.At).Seconds(),
		Note: fmt.Sprintf("the cluster-wide findings of the evaluator %s; its per-node findings are there (`kuma-agent doctor --cluster` on %s), or gather them here with --fresh", st.Evaluator, st.Evaluator)}
	for _, c := range st.Checks {
		rep.Cluster = append(rep.Cluster, clusterchecks.NamedResult{Name: c.Check, Nodes: c.Nodes,
			Result: checks.Result{Status: c.Status, Message: c.Message, Remedy: c.Remedy}})
	}
	if st.Truncated {
		rep.Note += "; shortened to fit the lease bucket"
	}
	return rep, true
}
