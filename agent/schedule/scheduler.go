package schedule

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/component"
)

// Scheduler runs checks periodically and keeps the latest outcome of each.
type Scheduler struct {
	opt     Options
	entries []*entry
	byName  map[string]*entry
	// sem bounds runs in flight across all checks (loops and RunNow).
	sem chan struct{}

	// notify serializes OnChange and the generation bumps that precede it,
	// so callbacks arrive in Generation order.
	notify sync.Mutex

	mu      sync.Mutex // guards the fields below
	gen     uint64
	running bool
}

// entry is one check's schedule and state.
type entry struct {
	name     string
	check    checks.Check // thresholds(exclusive(original))
	interval time.Duration
	timeout  time.Duration // the runner's deadline for this check
	// busy is when the run in progress took its concurrency slot (unix
	// nanoseconds), 0 when none is: what Stuck looks at.
	busy atomic.Int64
	// turn is the per-check mutex (a channel so that waiting for it can be
	// cancelled): the loop and RunNow take it for a whole run, so a check
	// never runs twice at once and its results are recorded in order.
	turn   chan struct{}
	latest *checks.Outcome // guarded by Scheduler.mu
}

// New prepares a scheduler for cs; nothing runs until Run or RunNow. Check
// names should be unique (they are the keys of RunNow and Intervals); of two
// checks with one name, RunNow finds the first.
func New(cs []checks.Check, o Options) *Scheduler {
	o = o.withDefaults()
	s := &Scheduler{
		opt:    o,
		byName: make(map[string]*entry, len(cs)),
		sem:    make(chan struct{}, max(o.Runner.Concurrency, 1)),
	}
	for _, c := range cs {
		e := &entry{
			name:     c.Name(),
			check:    checks.WithThresholds(&exclusive{Check: c}, o.FailuresBeforeWarning, o.FailuresBeforeCritical),
			interval: o.intervalOf(c.Name()),
			timeout:  timeoutOf(o.Runner, c),
			turn:     make(chan struct{}, 1),
		}
		s.entries = append(s.entries, e)
		if _, dup := s.byName[e.name]; !dup {
			s.byName[e.name] = e
		}
	}
	return s
}

// ErrRunning is returned by Run while another Run is active.
var ErrRunning = errors.New("schedule: scheduler is already running")

// Run runs every check on its interval until ctx is done, then waits for the
// loops to stop and returns nil. No run starts once ctx is done, and a loop
// stops only when the check body it started has returned (bodies honour
// ctx, so promptly), or has passed its deadline: a check body that ignores
// its context is abandoned there by checks.Runner and may outlive Run.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return ErrRunning
	}
	s.running = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
	}()

	var wg sync.WaitGroup
	for _, e := range s.entries {
		first := firstDelay(e.interval, s.random())
		wg.Go(func() { s.loop(ctx, e, first) })
	}
	if hb := s.opt.Heartbeat; hb != nil {
		wg.Go(func() { s.pulse(ctx, hb) })
	}
	wg.Wait()
	return nil
}

// timeoutOf is the deadline checks.Runner gives c.
func timeoutOf(r checks.Runner, c checks.Check) time.Duration {
	d := r.Timeout
	if t, ok := c.(checks.Timeouter); ok && t.Timeout() > 0 {
		d = t.Timeout()
	}
	if d <= 0 {
		d = defaultCheckTimeout
	}
	return d
}

// Stuck reports the check whose run has outlasted its deadline by more
// than StuckGrace the longest, and for how long it has run. A run counts
// from taking its concurrency slot to recording its outcome (OnChange
// included); runs waiting for a slot are not stuck, the ones holding the
// slots are.
func (s *Scheduler) Stuck() (check string, running time.Duration, stuck bool) {
	t := s.now()
	for _, e := range s.entries {
		b := e.busy.Load()
		if b == 0 {
			continue
		}
		if d := t.Sub(time.Unix(0, b)); d > e.timeout+StuckGrace && d > running {
			check, running, stuck = e.name, d, true
		}
	}
	return check, running, stuck
}

// pulse beats hb while no run is stuck, and logs each stuck check once.
func (s *Scheduler) pulse(ctx context.Context, hb *component.Heartbeat) {
	t := time.NewTicker(hb.Every())
	defer t.Stop()
	logged := ""
	for {
		check, running, stuck := s.Stuck()
		switch {
		case !stuck:
			hb.Beat()
			logged = ""
		case check != logged:
			s.opt.Logger.Error("check run stuck past its deadline: the scheduler stops showing progress", "check", check, "running_for", running)
			logged = check
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Scheduler) loop(ctx context.Context, e *entry, first time.Duration) {
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Both may be ready at once and select picks either: a timer due
		// at the cancel must not start a run.
		if ctx.Err() != nil {
			return
		}
		s.runOnce(ctx, e)
		// The wait starts after the run, so a slow check cannot pile up.
		t.Reset(Jittered(e.interval, s.opt.Jitter, s.random()))
	}
}

func (s *Scheduler) random() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opt.Rand()
}

// runOnce runs e under its per-check lock and a concurrency slot and records
// the outcome. A run cut short by ctx is returned but not recorded: the
// agent stopping, or a caller giving up, says nothing about the node.
func (s *Scheduler) runOnce(ctx context.Context, e *entry) checks.Outcome {
	select {
	case e.turn <- struct{}{}:
	case <-ctx.Done():
		return s.notRun(e.name, "cancelled before the check ran")
	}
	defer func() { <-e.turn }()
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return s.notRun(e.name, "cancelled before the check ran")
	}
	// As in loop: the slot or the turn may have been free at the cancel.
	if ctx.Err() != nil {
		<-s.sem
		return s.notRun(e.name, "cancelled before the check ran")
	}
	e.busy.Store(s.now().UnixNano())
	defer e.busy.Store(0)
	body := &tracked{Check: e.check, timeout: e.timeout, done: make(chan struct{})}
	deadline := time.Now().Add(e.timeout)
	out := s.opt.Runner.Run(ctx, body)
	if ctx.Err() != nil {
		// The runner returns at the cancel without waiting for the body
		// (its goroutine may not even have entered it yet): wait for it,
		// so that no check body this run started is still to come once
		// the caller (Run's loops) has returned. A body that ignores ctx
		// is waited for only until its deadline, where the runner gave up
		// on it too.
		body.wait(deadline)
		<-s.sem
		return out
	}
	<-s.sem
	s.record(e, out)
	return out
}

func (s *Scheduler) notRun(name, msg string) checks.Outcome {
	return checks.Outcome{Check: name, Result: checks.Unknownf(msg, ""), Started: s.now()}
}

// now is the scheduler's clock (the runner's, which tests inject).
func (s *Scheduler) now() time.Time {
	if s.opt.Runner.Now != nil {
		return s.opt.Runner.Now()
	}
	return time.Now()
}

// record stores cur as e's latest outcome; on a status change it bumps the
// generation and calls OnChange. The caller holds e.turn, so nobody else
// writes e.latest between the two critical sections below.
func (s *Scheduler) record(e *entry, cur checks.Outcome) {
	s.mu.Lock()
	prev := e.latest
	if prev != nil && prev.Status == cur.Status {
		e.latest = &cur
		s.mu.Unlock()
		s.opt.Logger.Debug("check ran", "check", cur.Check, "status", cur.Status, "duration", cur.Duration)
		return
	}
	s.mu.Unlock()

	s.notify.Lock()
	defer s.notify.Unlock()
	s.mu.Lock()
	e.latest = &cur
	s.gen++
	gen := s.gen
	s.mu.Unlock()

	from := "none"
	if prev != nil {
		from = prev.Status.String()
	}
	s.opt.Logger.Info("check status changed", "check", cur.Check, "from", from, "to", cur.Status,
		"message", cur.Message, "generation", gen)
	if s.opt.OnChange != nil {
		s.opt.OnChange(clonePtr(prev), clone(cur))
	}
}

// RunNow runs the named checks (all if none are named) at once, in parallel
// within the concurrency bound, waits for them and returns their outcomes in
// the order asked, duplicates dropped. Each run waits for the check's own
// loop to finish a run in progress and updates state as a scheduled run
// does. A name no check has yields an unknown outcome saying so; a run cut
// short by ctx yields its outcome but does not update state.
func (s *Scheduler) RunNow(ctx context.Context, names ...string) []checks.Outcome {
	if len(names) == 0 {
		for _, e := range s.entries {
			names = append(names, e.name)
		}
	}
	seen := make(map[string]bool, len(names))
	var uniq []string
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			uniq = append(uniq, n)
		}
	}
	out := make([]checks.Outcome, len(uniq))
	var wg sync.WaitGroup
	for i, n := range uniq {
		e, ok := s.byName[n]
		if !ok {
			out[i] = s.notRun(n, fmt.Sprintf("no check named %q on this node", n))
			continue
		}
		wg.Go(func() { out[i] = clone(s.runOnce(ctx, e)) })
	}
	wg.Wait()
	return out
}

// Latest returns the latest outcome of each check that has produced one, in
// the order the checks were given to New.
func (s *Scheduler) Latest() []checks.Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []checks.Outcome
	for _, e := range s.entries {
		if e.latest != nil {
			out = append(out, clone(*e.latest))
		}
	}
	return out
}

// Generation counts status changes (a first result counts as one): equal
// generations mean equal statuses, so peers can skip unchanged tags.
func (s *Scheduler) Generation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// Worst is the most severe status among the latest outcomes; OK if none.
func (s *Scheduler) Worst() checks.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := checks.OK
	for _, e := range s.entries {
		if e.latest != nil {
			w = checks.Worst(w, e.latest.Status)
		}
	}
	return w
}

// clone copies o's details so callers cannot alias the stored outcome.
func clone(o checks.Outcome) checks.Outcome {
	o.Details = slices.Clone(o.Details)
	return o
}

func clonePtr(o *checks.Outcome) *checks.Outcome {
	if o == nil {
		return nil
	}
	c := clone(*o)
	return &c
}
