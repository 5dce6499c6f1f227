package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/agent/schedule"
	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/component"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/lease"
)

// evaluatorPurpose is the cluster lease whose holder is the one cluster
// evaluator (beside the supervisor's "heal", in the same bucket).
const evaluatorPurpose = "cluster-checks"

// evaluatorTTLIntervals is the evaluator lease's TTL in check intervals.
// The holder renews every interval (TTL/3, and on every evaluation), so it
// survives two missed renewals; a dead holder's lease expires at most one
// TTL after its last renewal, and the others try every interval: the
// evaluation moves within one TTL plus one (jittered) interval.
const evaluatorTTLIntervals = 3

// evalCoordinator is the evaluator's cluster lease and the state it hands
// over (evaluatorlease.go: the lease bucket over the events' NATS).
type evalCoordinator interface {
	Acquire(ctx context.Context) (evalHold, error)
	ReadState(ctx context.Context) ([]byte, bool, error)
}

// evalHold is a held evaluator lease.
type evalHold interface {
	// Lost receives when the lease is lost or expired unrenewed.
	Lost() <-chan error
	// WriteState renews the lease and stores the state beside it; an
	// error wrapping lease.ErrLost means another node evaluates now.
	WriteState(ctx context.Context, state []byte) error
	// Renew renews the lease now (a CAS on its revision): an error
	// wrapping lease.ErrLost means another node holds it.
	Renew(ctx context.Context) error
	Release(ctx context.Context) error
}

// evalState is what the evaluator hands to the next one, stored beside its
// lease: the statuses it published (so the next one neither raises them
// again nor misses their clear) and the latest findings, which `doctor
// --cluster` on any other node shows.
type evalState struct {
	Evaluator   string           `json:"evaluator"`
	At          time.Time        `json:"at"`
	DurationMS  float64          `json:"duration_ms"`
	Checks      []publishedCheck `json:"checks"`
	Truncated   bool             `json:"truncated,omitempty"`
	Minority    bool             `json:"minority,omitempty"`
	Unanswered  []string         `json:"unanswered,omitempty"`
	MemberCount int              `json:"member_count,omitempty"`
	Status      checks.Status    `json:"status"`
}

// publishedCheck is one cluster check as the evaluator last published it.
type publishedCheck struct {
	Check   string        `json:"check"`
	Status  checks.Status `json:"status"`
	Message string        `json:"message"`
	Remedy  string        `json:"remedy,omitempty"`
	Nodes   []string      `json:"nodes,omitempty"`
}

// evaluation is the latest continuous evaluation this node made.
type evaluation struct {
	report control.ClusterReport // Cluster holds the damped (published) results
	at     time.Time
	raw    []clusterchecks.NamedResult // as gathered, for the gauges' numbers
}

// evaluator runs the cluster-wide checks continuously: in lease mode only
// while this node holds the cluster-checks lease, in self mode (no events,
// so no lease) on every node for itself, logging the changes. Each check
// is damped like a node check (checks.Thresholds) and a change of its
// damped status is published once: a cluster.status_changed event in lease
// mode, a log line in self mode.
type evaluator struct {
	self      string
	interval  time.Duration
	jitter    float64
	warnAfter int
	critAfter int
	// queryTimeout is the gathering's query timeout (mesh.query_timeout).
	queryTimeout time.Duration
	gather       func(ctx context.Context) (control.ClusterReport, error)
	coord        evalCoordinator // nil: self mode
	emit         func(events.ClusterCheckData)
	log          *slog.Logger
	now          func() time.Time

	mu        sync.Mutex
	hold      evalHold
	damp      map[string]*checks.Thresholds
	published map[string]publishedCheck
	latest    *evaluation
}

// latestResult is a cluster check's gathered result as a checks.Check, so
// checks.Thresholds damps it like any node check.
type latestResult struct {
	name string
	r    checks.Result
}

func (l *latestResult) Name() string                      { return l.name }
func (*latestResult) Area() checks.Area                   { return clusterchecks.Area }
func (l *latestResult) Run(context.Context) checks.Result { return l.r }

// run is the evaluator's loop: one step per jittered interval. It beats hb
// while it waits and while a step runs within its bound (a step is bounded
// by stepTimeout; one that outlasts it by stepGrace stops the beats: a
// stall the watchdog reports).
func (e *evaluator) run(hb *component.Heartbeat) func(ctx context.Context) {
	return func(ctx context.Context) {
		defer e.resign()
		// The first step waits one interval: the mesh has joined and every
		// node's checks have run once by then.
		for hb.Sleep(ctx, schedule.Jittered(e.interval, e.jitter, rand.Float64())) {
			sctx, cancel := context.WithTimeout(ctx, e.stepTimeout())
			done := make(chan struct{})
			go func() {
				defer close(done)
				e.step(sctx)
			}()
			hb.Wait(ctx, e.stepTimeout()+stepGrace, done)
			<-done
			cancel()
			hb.Beat()
		}
	}
}

// stepGrace is how long a step may outlast its own deadline (a call that
// does not honour its context) before the loop counts as stuck.
const stepGrace = 5 * time.Second

// stepTimeout bounds one step: the lease, the gathering (its four queries,
// each asked at most twice) and the state write.
func (e *evaluator) stepTimeout() time.Duration { return 2*e.queryTimeout + 5*time.Second }

// resign releases the lease at stop, so the next evaluator need not wait
// for it to expire (a restart is not a failure, and serf would not call
// this node failed).
func (e *evaluator) resign() {
	e.mu.Lock()
	h := e.hold
	e.hold = nil
	e.mu.Unlock()
	if h != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := h.Release(ctx); err != nil {
			e.log.Warn("cluster evaluator lease not released; it expires on its own", "err", err)
		}
	}
}

// step makes one evaluation if this node is (or becomes) the evaluator.
func (e *evaluator) step(ctx context.Context) {
	if e.coord != nil && !e.lead(ctx) {
		return
	}
	rep, err := e.gather(ctx)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return // stopping
		}
		e.log.Warn("cluster evaluation failed; the last published statuses stand", "err", err)
		return
	}
	changes, state := e.apply(rep)
	if e.coord == nil {
		for _, c := range changes {
			lvl := slog.LevelWarn
			if c.Transition == events.TransitionCleared {
				lvl = slog.LevelInfo
			}
			e.log.Log(ctx, lvl, "cluster check status changed", "check", c.Check, "from", c.Previous, "to", c.Status,
				"transition", c.Transition, "msg", c.Message, "nodes", c.Nodes, "remedy", c.Remedy)
		}
		return
	}
	e.mu.Lock()
	h := e.hold
	e.mu.Unlock()
	if h == nil {
		return
	}
	// State first, then the events: a write refused because the lease
	// moved means another node evaluates and publishes (no double raise);
	// the events go to the durable outbox right after.
	b, err := encodeEvalState(state)
	if err == nil {
		err = h.WriteState(ctx, b)
	}
	if err != nil {
		if errors.Is(err, lease.ErrLost) {
			e.log.Warn("cluster evaluator lease lost; another node evaluates now", "err", err)
			e.abdicate()
			return
		}
		// Not published: the statuses stay as they were, and the changes
		// are published at the next evaluation that can write the state.
		e.log.Warn("cluster evaluation state not written; changes wait for the next evaluation", "err", err)
		e.rollback(changes)
		return
	}
	for _, c := range changes {
		e.emit(c)
	}
}

// lead keeps or takes the lease; false when another node evaluates.
func (e *evaluator) lead(ctx context.Context) bool {
	e.mu.Lock()
	h := e.hold
	e.mu.Unlock()
	if h != nil {
		select {
		case err := <-h.Lost():
			e.log.Warn("cluster evaluator lease lost; stepping down", "err", err)
			e.abdicate()
		default:
			return true
		}
	}
	h, err := e.coord.Acquire(ctx)
	if err != nil {
		var held lease.ErrHeld
		if !errors.As(err, &held) {
			e.log.Debug("cluster evaluator lease not acquired", "err", err)
		}
		return false
	}
	st, ok, err := e.coord.ReadState(ctx)
	var prev evalState
	if err == nil && ok {
		err = json.Unmarshal(st, &prev)
	}
	if err != nil {
		// Without the published statuses a fault already raised would be
		// raised again: give the lease back and try again next interval.
		e.log.Warn("cluster evaluation state unreadable; not evaluating until it is", "err", err)
		_ = h.Release(ctx)
		return false
	}
	e.mu.Lock()
	e.hold = h
	e.resume(prev)
	e.mu.Unlock()
	e.log.Info("this node is now the cluster evaluator", "previous", prev.Evaluator, "published", len(prev.Checks))
	return true
}

// holding renews the lease right now and says whether this node still
// evaluates: the Core failover asks it right before a taint write, so an
// evaluator that lost the lease since its decision writes nothing. A lost
// lease is given up here as in step.
func (e *evaluator) holding(ctx context.Context) error {
	e.mu.Lock()
	h := e.hold
	e.mu.Unlock()
	if e.coord == nil || h == nil {
		return errors.New("this node does not hold the cluster evaluator lease")
	}
	err := h.Renew(ctx)
	if errors.Is(err, lease.ErrLost) {
		e.log.Warn("cluster evaluator lease lost; stepping down", "err", err)
		e.abdicate()
	}
	return err
}

// abdicate forgets the lease and the damping: another node publishes now.
func (e *evaluator) abdicate() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.hold = nil
	e.damp, e.published, e.latest = nil, nil, nil
}

// resume starts the damping and the published statuses from what the
// previous evaluator published. Called with e.mu held.
func (e *evaluator) resume(prev evalState) {
	e.damp, e.published = map[string]*checks.Thresholds{}, map[string]publishedCheck{}
	for _, p := range prev.Checks {
		e.published[p.Check] = p
		e.thresholds(p.Check).Resume(checks.Result{Status: p.Status, Message: p.Message, Remedy: p.Remedy})
	}
}

// thresholds is check's damping. Called with e.mu held.
func (e *evaluator) thresholds(check string) *checks.Thresholds {
	if e.damp == nil {
		e.damp = map[string]*checks.Thresholds{}
	}
	t := e.damp[check]
	if t == nil {
		t = checks.WithThresholds(&latestResult{name: check}, e.warnAfter, e.critAfter)
		// Nothing published yet counts as ok: the first failures are
		// damped like any later ones, not published as "unknown".
		t.Resume(checks.Okf("not yet judged"))
		e.damp[check] = t
	}
	return t
}

// apply damps a gathered report, records what changed against the
// published statuses and returns the changes and the state to hand over.
// A minority view (the majority check fails) publishes only the majority
// check: it neither clears what the majority side raised nor raises what
// only its partial view shows.
func (e *evaluator) apply(rep control.ClusterReport) ([]events.ClusterCheckData, evalState) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.published == nil {
		e.published = map[string]publishedCheck{}
	}
	minority := slices.ContainsFunc(rep.Cluster, func(c clusterchecks.NamedResult) bool {
		return c.Name == clusterchecks.MajorityCheckName && c.Result.Status == checks.Crit
	})
	raw := rep.Cluster
	damped := make([]clusterchecks.NamedResult, 0, len(raw))
	var changes []events.ClusterCheckData
	status := checks.OK
	for _, c := range raw {
		prev, had := e.published[c.Name]
		var r checks.Result
		if minority && c.Name != clusterchecks.MajorityCheckName {
			// Frozen: the last published result stands, marked as such.
			r = checks.Unknownf("not judged: this node sees a minority of the cluster", "")
			if had {
				r = checks.Result{Status: prev.Status, Message: prev.Message, Remedy: prev.Remedy}
			}
			r.Details = append(r.Details, "held: this node sees a minority of the cluster; its view is not the cluster's")
			damped = append(damped, clusterchecks.NamedResult{Name: c.Name, Result: r, Nodes: prev.Nodes})
			status = checks.Worst(status, r.Status)
			continue
		}
		t := e.thresholds(c.Name)
		t.Check.(*latestResult).r = c.Result
		r = t.Run(context.Background())
		damped = append(damped, clusterchecks.NamedResult{Name: c.Name, Result: r, Nodes: c.Nodes, Values: c.Values})
		status = checks.Worst(status, r.Status)
		cur := publishedCheck{Check: c.Name, Status: r.Status, Message: r.Message, Remedy: r.Remedy, Nodes: c.Nodes}
		e.published[c.Name] = cur
		if tr := transition(prev.Status, had, r.Status); tr != "" {
			from := "none"
			if had {
				from = prev.Status.String()
			}
			changes = append(changes, events.ClusterCheckData{Check: c.Name, Status: r.Status.String(), Previous: from,
				Transition: tr, Message: r.Message, Details: r.Details, Remedy: r.Remedy, Nodes: c.Nodes, Evaluator: e.self})
		}
	}
	now := e.now()
	out := rep
	out.Cluster = damped
	out.Status = status
	for _, n := range rep.Nodes {
		for _, f := range n.Findings {
			out.Status = checks.Worst(out.Status, f.Result().Status)
		}
	}
	if len(rep.Unanswered) > 0 {
		out.Status = checks.Worst(out.Status, checks.Warn)
	}
	out.Evaluator, out.EvaluatedAt = e.self, now.UTC()
	e.latest = &evaluation{report: out, at: now, raw: raw}
	st := evalState{Evaluator: e.self, At: now.UTC(), DurationMS: rep.DurationMS, Minority: minority,
		Unanswered: rep.Unanswered, MemberCount: len(rep.Members), Status: out.Status}
	for _, c := range damped {
		st.Checks = append(st.Checks, e.published[c.Name])
	}
	return changes, st
}

// rollback forgets changes that could not be published, so the next
// evaluation finds them again.
func (e *evaluator) rollback(changes []events.ClusterCheckData) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range changes {
		if c.Previous == "none" {
			delete(e.published, c.Check)
			continue
		}
		st, _ := checks.ParseStatus(c.Previous)
		p := e.published[c.Check]
		p.Status = st
		e.published[c.Check] = p
	}
}

// transition names a change of published status; "" is none. The first
// publication of a check is silent when it is ok (nothing to raise).
func transition(prev checks.Status, had bool, cur checks.Status) string {
	switch {
	case had && prev == cur, !had && cur == checks.OK:
		return ""
	case cur == checks.OK:
		return events.TransitionCleared
	case !had || prev == checks.OK:
		return events.TransitionRaised
	}
	return events.TransitionChanged
}

// encodeEvalState fits the state in the lease bucket's value bound:
// remedies go first, then messages are cut, then node lists; the statuses
// always fit (a few dozen bytes per check).
func encodeEvalState(st evalState) ([]byte, error) {
	for stage := 0; ; stage++ {
		b, err := json.Marshal(st)
		if err != nil {
			return nil, fmt.Errorf("cluster evaluation state: %w", err)
		}
		if len(b) <= lease.MaxStateSize {
			return b, nil
		}
		st.Truncated = true
		st.Checks = slices.Clone(st.Checks)
		for i := range st.Checks {
			c := &st.Checks[i]
			switch stage {
			case 0:
				c.Remedy = ""
			case 1:
				c.Message = cut(c.Message, 160)
			case 2:
				c.Nodes = c.Nodes[:min(len(c.Nodes), 4)]
				st.Unanswered = st.Unanswered[:min(len(st.Unanswered), 4)]
			default:
				c.Message, c.Nodes = cut(c.Message, 40), nil
				st.Unanswered = nil
			}
		}
		if stage > 3 {
			return nil, fmt.Errorf("cluster evaluation state: %d bytes even cut down, limit %d", len(b), lease.MaxStateSize)
		}
	}
}

// cut shortens s to at most n bytes on a rune boundary, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// snapshot is the latest evaluation and whether this node is the
// evaluator now (lease held, or self mode).
func (e *evaluator) snapshot() (*evaluation, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.latest, e.coord == nil || e.hold != nil
}
