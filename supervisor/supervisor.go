package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/retry"
)

// Options configure a Supervisor. Backend, Node and Peers are required.
type Options struct {
	Node      string
	Backend   Backend
	Selection Selection
	Policy    Backoff
	Guard     Guard
	// Peers is the mesh's view of the cluster, this node included: only
	// the members the inventory vouches for. The guard, the rejoin and the
	// cleanup also count no name outside the inventory (Guard.Hosts).
	Peers  func() []Peer
	Locker Locker // nil: no lease (single host only)
	DryRun bool
	// StartStopped also starts enabled units found inactive. Off by
	// default: an inactive unit is an operator's stop.
	StartStopped bool
	// HealTimeout bounds the wait for a started unit to become active.
	HealTimeout time.Duration
	// RetryRefused is the wait before re-trying a refused action.
	RetryRefused time.Duration
	Emit         func(t events.Type, subject string, sev events.Severity, data any)
	// OnChange is called (from the supervisor's goroutine, must not block)
	// when the summary others see may have changed: gossip it.
	OnChange func()
	Logger   *slog.Logger
	Now      func() time.Time
}

// track is the supervisor's memory of one unit; owned by the Run goroutine.
type track struct {
	state    UnitState
	cond     Condition
	group    Group
	history  attempts
	gaveUp   bool
	healing  bool
	due      time.Time // next evaluation; zero = none pending
	refusal  string    // last refusal reason emitted
	proposed bool      // dry-run: proposed for this failure already
}

// result is a finished heal, sent back to the Run goroutine.
type result struct {
	unit string
	out  outcome
}

// Supervisor watches this node's units and heals them.
type Supervisor struct {
	o       Options
	log     *slog.Logger
	metrics *stats

	mu       sync.Mutex // guards units for readers outside Run
	units    map[string]*track
	wake     chan struct{}
	rejoin   rejoinState
	watchErr error // why the backend cannot be watched; guarded by mu
}

// New checks the options; it starts nothing.
func New(o Options) (*Supervisor, error) {
	if o.Backend == nil || o.Node == "" || o.Peers == nil {
		return nil, errors.New("supervisor: Backend, Node and Peers are required")
	}
	if o.Policy.Initial <= 0 || o.Policy.Max < o.Policy.Initial || o.Policy.Window <= 0 {
		return nil, fmt.Errorf("supervisor: backoff initial %s, max %s, window %s: need 0 < initial <= max and a window",
			o.Policy.Initial, o.Policy.Max, o.Policy.Window)
	}
	if o.HealTimeout <= 0 {
		o.HealTimeout = time.Minute
	}
	if o.RetryRefused <= 0 {
		o.RetryRefused = time.Second
	}
	if o.Emit == nil {
		o.Emit = func(events.Type, string, events.Severity, any) {}
	}
	if o.OnChange == nil {
		o.OnChange = func() {}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Supervisor{o: o, log: o.Logger, metrics: &stats{}, units: map[string]*track{}, wake: make(chan struct{}, 1)}, nil
}

func (s *Supervisor) emit(t events.Type, subject string, sev events.Severity, data any) {
	s.o.Emit(t, subject, sev, data)
}

func (s *Supervisor) peers() []Peer { return s.o.Peers() }

// Run watches and heals until ctx is done.
func (s *Supervisor) Run(ctx context.Context) error {
	match := func(unit string) bool { _, ok := s.o.Selection.Match(unit); return ok }
	updates, err := s.o.Backend.Watch(ctx, match)
	s.mu.Lock()
	s.watchErr = err
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("supervisor: watch units: %w", err)
	}
	results := make(chan result)
	var wg sync.WaitGroup
	defer wg.Wait() // heals end with ctx; their results are dropped
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-updates:
			if !ok {
				return nil
			}
			s.observe(u)
		case r := <-results:
			s.finish(r)
		case <-timer.C:
		case <-s.wake:
		}
		next := s.evaluate(ctx, &wg, results)
		timer.Reset(next)
	}
}

// observe records an update; events for changes, Unknown on errors.
func (s *Supervisor) observe(u Update) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := u.State.Name
	t := s.units[name]
	if t == nil {
		g, _ := s.o.Selection.Match(name)
		t = &track{group: g, cond: Unknown}
		s.units[name] = t
	}
	prev := t.cond
	if u.Err != nil {
		t.cond = Unknown
		if prev != Unknown {
			s.log.Warn("unit state unknown: no action until it is read again", "unit", name, "err", u.Err)
			s.o.OnChange()
		}
		return
	}
	old := t.state
	t.state, t.cond = u.State, Classify(u.State)
	if old.ActiveState != u.State.ActiveState || old.SubState != u.State.SubState || prev == Unknown {
		sev := events.SeverityInfo
		if t.cond.NeedsHealing() {
			sev = events.SeverityWarning
		}
		if old.ActiveState != u.State.ActiveState || old.SubState != u.State.SubState {
			s.emit(events.UnitStateChanged, name, sev, events.UnitData{Unit: name, ActiveState: u.State.ActiveState,
				SubState: u.State.SubState, Result: u.State.Result, Condition: t.cond.String()})
		}
		s.o.OnChange()
	}
	if t.cond == Running {
		if t.gaveUp {
			s.log.Info("unit is running again: healing re-armed", "unit", name)
		}
		t.gaveUp, t.proposed, t.refusal = false, false, ""
	}
}

// wanted reports whether the unit's condition calls for a start.
func (s *Supervisor) wanted(t *track) bool {
	if t.cond.NeedsHealing() {
		return true
	}
	return s.o.StartStopped && t.cond == Stopped && t.state.UnitFileState == "enabled"
}

// evaluate starts the heals that are due and returns the wait until the
// next one.
func (s *Supervisor) evaluate(ctx context.Context, wg *sync.WaitGroup, results chan<- result) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.o.Now()
	next := time.Hour
	for _, name := range slices.Sorted(maps.Keys(s.units)) {
		t := s.units[name]
		if !s.wanted(t) || t.healing || t.gaveUp || (s.o.DryRun && t.proposed) {
			t.due = time.Time{}
			continue
		}
		at, giveUp := s.o.Policy.Next(t.history, now)
		if giveUp {
			t.gaveUp = true
			n := len(t.history.live(now, s.o.Policy.Window))
			reason := fmt.Sprintf("gave up after %d attempts in %s; find the cause (`systemctl status %s`, `journalctl -u %s`), then `systemctl reset-failed %s` re-arms healing",
				n, s.o.Policy.Window, name, name, name)
			s.log.Error("healing gave up", "unit", name, "attempts", n)
			s.emit(events.HealingRefused, name, events.SeverityCritical, events.HealingData{Unit: name, Action: "restart", Reason: reason, Attempt: n, Group: string(t.group)})
			t.refusal = reason
			s.o.OnChange()
			continue
		}
		if t.due.After(at) {
			at = t.due // a refusal asked for a later retry
		}
		if at.After(now) {
			t.due = at
			next = min(next, at.Sub(now))
			continue
		}
		t.due = time.Time{}
		t.healing = true
		j := s.restartJob(name, t, len(t.history.live(now, s.o.Policy.Window))+1)
		wg.Go(func() {
			out := s.coordinate(ctx, j)
			select {
			case results <- result{unit: name, out: out}:
			case <-ctx.Done():
			}
		})
	}
	return next
}

// restartJob is reset-failed + start of a failed unit.
func (s *Supervisor) restartJob(name string, t *track, attempt int) job {
	reason := fmt.Sprintf("unit %s (%s/%s, result %s", t.cond, t.state.ActiveState, t.state.SubState, t.state.Result)
	if t.state.NRestarts > 0 {
		reason += fmt.Sprintf(", after %d automatic restarts by systemd", t.state.NRestarts)
	}
	reason += ")"
	return job{
		action:  Action{Node: s.o.Node, Unit: name, Verb: "restart", Group: t.group, TargetDown: true},
		reason:  reason,
		attempt: attempt,
		since:   t.state.Since,
		confirm: func(ctx context.Context) (bool, error) {
			st, err := s.o.Backend.State(ctx, name)
			if err != nil {
				return false, err
			}
			c := Classify(st)
			if c == Unknown {
				return false, fmt.Errorf("unrecognised state %s/%s", st.ActiveState, st.SubState)
			}
			return c.NeedsHealing() || (s.o.StartStopped && c == Stopped && st.UnitFileState == "enabled"), nil
		},
		do: func(ctx context.Context) (string, error) {
			s.mu.Lock()
			t.history = append(t.history.live(s.o.Now(), s.o.Policy.Window), s.o.Now())
			s.mu.Unlock()
			return s.restart(ctx, name)
		},
	}
}

// healPoll is how often a heal re-reads the state it waits for (the unit
// active again, the Core back in its cluster).
const healPoll = 100 * time.Millisecond

// restart clears the failure, starts the unit and waits for it to be
// active (or to fail again) within HealTimeout.
func (s *Supervisor) restart(ctx context.Context, name string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.HealTimeout)
	defer cancel()
	if err := s.o.Backend.ResetFailed(ctx, name); err != nil {
		return "", fmt.Errorf("reset-failed %s: %w", name, err)
	}
	if err := s.o.Backend.Start(ctx, name); err != nil {
		return "", fmt.Errorf("start %s: %w", name, err)
	}
	for {
		st, err := s.o.Backend.State(ctx, name)
		if err == nil {
			switch Classify(st) {
			case Running:
				return st.ActiveState, nil
			case Failed, StartLimit, Stopped:
				return st.ActiveState, fmt.Errorf("%s is %s/%s (result %s) after start", name, st.ActiveState, st.SubState, st.Result)
			}
		}
		if !retry.Sleep(ctx, healPoll) {
			return "", fmt.Errorf("%s not active within %s: %w", name, s.o.HealTimeout, ctx.Err())
		}
	}
}

// finish records a heal's outcome.
func (s *Supervisor) finish(r result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.units[r.unit]
	if t == nil {
		return
	}
	t.healing = false
	switch r.out.kind {
	case refused:
		t.due = s.o.Now().Add(s.o.RetryRefused)
		s.refuseLocked(r.unit, t, "restart", r.out.reason)
	case proposed:
		t.proposed = true
	case noop:
		// The reading was stale; the watch brings the new state. Until it
		// does, do not spin on the old one.
		t.due = s.o.Now().Add(s.o.RetryRefused)
	case done:
		t.refusal = ""
	case failed:
		s.log.Warn("healing failed", "unit", r.unit, "err", r.out.reason)
	}
	s.o.OnChange()
}

// Units reports every supervised unit, sorted by name.
func (s *Supervisor) Units() []UnitStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.o.Now()
	out := make([]UnitStatus, 0, len(s.units))
	for _, name := range slices.Sorted(maps.Keys(s.units)) {
		t := s.units[name]
		if t.cond == Missing {
			continue
		}
		out = append(out, UnitStatus{Unit: name, Group: t.group, Condition: t.cond.String(), Active: t.state.ActiveState,
			Sub: t.state.SubState, Result: t.state.Result, Attempts: len(t.history.live(now, s.o.Policy.Window)),
			GaveUp: t.gaveUp, Healing: t.healing, NextAt: t.due, Refusal: t.refusal, Proposed: t.proposed,
			Exec: t.state.Exec, ExecErr: t.state.ExecErr})
	}
	return out
}

// GroupHealthy reports whether every quorum-group unit on this node is
// running: what this node gossips so that others' guards can count it.
// ok is false when no group unit is known here.
func (s *Supervisor) GroupHealthy() (healthy, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	healthy = true
	for _, t := range s.units {
		if t.group == NoGroup || t.cond == Missing {
			continue
		}
		ok = true
		if t.cond != Running {
			healthy = false
		}
	}
	return healthy, ok
}

func healingData(unit, verb, reason string, g Group) events.HealingData {
	return events.HealingData{Unit: unit, Action: verb, Reason: reason, Group: string(g)}
}

// WatchError is why the init system cannot be watched (nil when it is).
func (s *Supervisor) WatchError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.watchErr
}
