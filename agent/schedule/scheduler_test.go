package schedule

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/component"
)

func TestOneCheckNeverRunsTwiceAtOnce(t *testing.T) {
	p := &probe{name: "p", hold: 2 * time.Millisecond}
	o := fast()
	o.Runner.Concurrency = 8
	s := New([]checks.Check{p}, o)
	stop := start(t, s)

	// RunNow hammers the same check while its loop runs.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var manual atomic.Int64
	for range 3 {
		wg.Go(func() {
			for ctx.Err() == nil {
				out := s.RunNow(ctx, "p")
				if len(out) != 1 || out[0].Check != "p" {
					t.Errorf("RunNow returned %+v", out)
					return
				}
				// A run refused as "still in progress" would mean RunNow
				// did not wait for the loop's run.
				if out[0].Status != checks.OK && ctx.Err() == nil {
					t.Errorf("RunNow beside the loop: %v %q", out[0].Status, out[0].Message)
				}
				manual.Add(1)
			}
		})
	}
	eventually(t, "40 runs", func() bool { return p.runs.Load() >= 40 && manual.Load() >= 10 })
	cancel()
	wg.Wait()
	stop()
	if pk := p.peak.Load(); pk != 1 {
		t.Fatalf("check ran %d times at once", pk)
	}
}

func TestOverrunningCheckIsNotStartedBesideItself(t *testing.T) {
	gate := make(chan struct{})
	p := &probe{name: "hung", gate: gate, deaf: true}
	o := fast()
	o.Runner.Timeout = 10 * time.Millisecond
	s := New([]checks.Check{p}, o)
	stop := start(t, s)

	eventually(t, "a run refused while the first still hangs", func() bool {
		l := s.Latest()
		return len(l) == 1 && strings.Contains(l[0].Message, "still in progress")
	})
	if l := s.Latest(); l[0].Status != checks.Unknown {
		t.Errorf("refused run reported %v, want unknown", l[0].Status)
	}
	if n := p.runs.Load(); n != 1 {
		t.Errorf("the check body was entered %d times while its first run hung", n)
	}
	close(gate)
	eventually(t, "runs to resume", func() bool {
		l := s.Latest()
		return p.runs.Load() >= 3 && len(l) == 1 && l[0].Status == checks.OK
	})
	stop()
	if pk := p.peak.Load(); pk != 1 {
		t.Fatalf("check ran %d times at once", pk)
	}
}

func TestConcurrencyIsBoundedAcrossChecks(t *testing.T) {
	const limit = 2
	gate := make(chan struct{})
	shared := &gauge{}
	var cs []checks.Check
	var ps []*probe
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		p := &probe{name: n, gate: gate, shared: shared}
		ps = append(ps, p)
		cs = append(cs, p)
	}
	o := fast()
	o.Runner.Concurrency = limit
	s := New(cs, o)
	stop := start(t, s)

	eventually(t, "the slots to fill", func() bool { return shared.cur.Load() == limit })
	// Every first run is due within 5ms; give the others time to squeeze in
	// if the bound were broken.
	time.Sleep(50 * time.Millisecond)
	if n := shared.cur.Load(); n != limit {
		t.Fatalf("%d checks inside at once, limit %d", n, limit)
	}
	// RunNow shares the bound.
	done := make(chan []checks.Outcome)
	go func() { done <- s.RunNow(context.Background()) }()
	time.Sleep(20 * time.Millisecond)
	if n := shared.cur.Load(); n != limit {
		t.Fatalf("%d checks inside at once with RunNow, limit %d", n, limit)
	}
	close(gate)
	if out := <-done; len(out) != len(cs) {
		t.Errorf("RunNow() returned %d outcomes for %d checks", len(out), len(cs))
	}
	eventually(t, "every check to run thrice", func() bool {
		for _, p := range ps {
			if p.runs.Load() < 3 {
				return false
			}
		}
		return true
	})
	stop()
	if pk := shared.peak.Load(); pk > limit {
		t.Fatalf("peak concurrency %d, limit %d", pk, limit)
	}
}

type change struct {
	prev *checks.Status
	cur  checks.Status
	gen  uint64
}

func TestOnChangeExactlyOnTransitions(t *testing.T) {
	script := []checks.Status{checks.OK, checks.OK, checks.Crit, checks.Crit, checks.Warn, checks.OK, checks.OK, checks.Unknown, checks.Unknown}
	p := &probe{name: "p", script: func(n int) checks.Status { return script[n] }}
	var s *Scheduler
	var got []change
	o := fast()
	o.OnChange = func(prev *checks.Outcome, cur checks.Outcome) {
		c := change{cur: cur.Status, gen: s.Generation()}
		if prev != nil {
			st := prev.Status
			c.prev = &st
		}
		got = append(got, c)
	}
	s = New([]checks.Check{p}, o)

	var want []change
	for i, st := range script {
		out := s.RunNow(context.Background())
		if len(out) != 1 || out[0].Status != st {
			t.Fatalf("run %d: got %+v, want status %v", i, out, st)
		}
		if i == 0 || script[i-1] != st {
			c := change{cur: st, gen: uint64(len(want) + 1)}
			if i > 0 {
				c.prev = &script[i-1]
			}
			want = append(want, c)
		}
		if g := s.Generation(); g != uint64(len(want)) {
			t.Errorf("run %d: generation %d, want %d", i, g, len(want))
		}
		if w := s.Worst(); w != st {
			t.Errorf("run %d: worst %v, want %v", i, w, st)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("OnChange called %d times, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if (g.prev == nil) != (w.prev == nil) || (g.prev != nil && *g.prev != *w.prev) || g.cur != w.cur || g.gen != w.gen {
			t.Errorf("change %d: got %v->%v gen %d, want %v->%v gen %d", i, g.prev, g.cur, g.gen, w.prev, w.cur, w.gen)
		}
	}
}

func TestOnChangeIsSerializedInGenerationOrder(t *testing.T) {
	var cs []checks.Check
	for _, n := range []string{"a", "b", "c", "d"} {
		// Flip every run so that every run is a change.
		cs = append(cs, &probe{name: n, script: func(n int) checks.Status { return checks.Status(n % 2 * int(checks.Crit)) }})
	}
	var (
		s        *Scheduler
		inflight atomic.Int32
		overlaps atomic.Int32
		calls    atomic.Int64
		mu       sync.Mutex
		gens     []uint64
	)
	o := fast()
	o.Interval = time.Millisecond
	o.OnChange = func(prev *checks.Outcome, cur checks.Outcome) {
		if inflight.Add(1) != 1 {
			overlaps.Add(1)
		}
		defer inflight.Add(-1)
		g := s.Generation() // must not deadlock
		_ = s.Latest()
		mu.Lock()
		gens = append(gens, g)
		mu.Unlock()
		time.Sleep(100 * time.Microsecond)
		calls.Add(1)
	}
	s = New(cs, o)
	stop := start(t, s)
	eventually(t, "60 changes", func() bool { return calls.Load() >= 60 })
	stop()
	if n := overlaps.Load(); n != 0 {
		t.Fatalf("OnChange overlapped itself %d times", n)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, g := range gens {
		if g != uint64(i+1) {
			t.Fatalf("call %d saw generation %d, want %d (calls out of order)", i, g, i+1)
		}
	}
	if g := s.Generation(); g != uint64(len(gens)) {
		t.Errorf("generation %d after %d changes", g, len(gens))
	}
}

func TestThresholdsDelayCritical(t *testing.T) {
	p := &probe{name: "p", script: func(int) checks.Status { return checks.Crit }}
	o := fast()
	o.FailuresBeforeWarning, o.FailuresBeforeCritical = 2, 3
	s := New([]checks.Check{p}, o)
	// Failure 1 is held (nothing reported before: unknown), 2 is reported
	// as a warning, 3 and later as critical.
	want := []checks.Status{checks.Unknown, checks.Warn, checks.Crit, checks.Crit, checks.Crit}
	for i, w := range want {
		out := s.RunNow(context.Background(), "p")
		if out[0].Status != w {
			t.Fatalf("failure %d: status %v, want %v (%s)", i+1, out[0].Status, w, out[0].Message)
		}
	}
	if g := s.Generation(); g != 3 {
		t.Errorf("generation %d, want 3 (unknown, warn, crit)", g)
	}
	if w := s.Worst(); w != checks.Crit {
		t.Errorf("worst %v", w)
	}
}

func TestLatestKeepsCheckOrderAndOnlyProducedResults(t *testing.T) {
	a := &probe{name: "a"}
	b := &probe{name: "b", script: func(int) checks.Status { return checks.Warn }}
	c := &probe{name: "c", script: func(int) checks.Status { return checks.Crit }}
	s := New([]checks.Check{a, b, c}, fast())
	if l, w := s.Latest(), s.Worst(); len(l) != 0 || w != checks.OK {
		t.Fatalf("before any run: latest %+v worst %v", l, w)
	}
	out := s.RunNow(context.Background(), "c", "a", "c", "nope")
	if len(out) != 3 || out[0].Check != "c" || out[1].Check != "a" || out[2].Check != "nope" {
		t.Fatalf("RunNow order/dedup: %+v", out)
	}
	if out[2].Status != checks.Unknown || !strings.Contains(out[2].Message, "no check named") {
		t.Errorf("unknown name: %+v", out[2])
	}
	l := s.Latest()
	if len(l) != 2 || l[0].Check != "a" || l[1].Check != "c" {
		t.Fatalf("latest: %+v", l)
	}
	if w := s.Worst(); w != checks.Crit {
		t.Errorf("worst %v", w)
	}
	if b.runs.Load() != 0 {
		t.Errorf("b ran without being asked")
	}
	// A snapshot does not alias the stored outcome.
	l[0].Details = append(l[0].Details, "scribble")
	l[0].Message = "scribble"
	if again := s.Latest(); again[0].Message == "scribble" || len(again[0].Details) != 0 {
		t.Errorf("Latest aliases internal state: %+v", again[0])
	}
}

func TestRunNowCancelledDoesNotRecord(t *testing.T) {
	p := &probe{name: "p"}
	calls := 0
	o := fast()
	o.OnChange = func(*checks.Outcome, checks.Outcome) { calls++ }
	s := New([]checks.Check{p}, o)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Many times: which ready select case wins is random.
	for range 50 {
		out := s.RunNow(ctx)
		if len(out) != 1 || out[0].Status != checks.Unknown {
			t.Fatalf("cancelled RunNow: %+v", out)
		}
	}
	if l, g := s.Latest(), s.Generation(); len(l) != 0 || g != 0 || calls != 0 {
		t.Errorf("cancelled run recorded: latest %+v generation %d onchange %d", l, g, calls)
	}
}

func TestRunRefusesSecondRunAndRestarts(t *testing.T) {
	p := &probe{name: "p"}
	s := New([]checks.Check{p}, fast())
	stop := start(t, s)
	eventually(t, "a run", func() bool { return p.runs.Load() > 0 })
	if err := s.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run: %v, want ErrRunning", err)
	}
	stop()
	n := p.runs.Load()
	stop2 := start(t, s)
	eventually(t, "runs after restart", func() bool { return p.runs.Load() > n })
	stop2()
}

func TestRunStopsAllLoopsOnCancel(t *testing.T) {
	before := runtime.NumGoroutine()
	var ps []*probe
	var cs []checks.Check
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		p := &probe{name: n, hold: time.Millisecond}
		ps = append(ps, p)
		cs = append(cs, p)
	}
	s := New(cs, fast())
	stop := start(t, s)
	eventually(t, "every check to run", func() bool {
		for _, p := range ps {
			if p.runs.Load() < 2 {
				return false
			}
		}
		return true
	})
	stop()
	// Run has returned: its loops are gone, and the check bodies they
	// started have returned (the probes honour ctx), so no run is counted
	// from here on. The runner goroutines exit just after their bodies.
	var total int64
	for _, p := range ps {
		total += p.runs.Load()
		if in := p.inside.Load(); in != 0 {
			t.Errorf("check %s: %d bodies still running after Run returned", p.name, in)
		}
	}
	eventually(t, "goroutines to drain", func() bool { return runtime.NumGoroutine() <= before+1 })
	var drained int64
	for _, p := range ps {
		drained += p.runs.Load()
	}
	if drained != total {
		t.Errorf("%d runs counted after Run returned", drained-total)
	}
	time.Sleep(20 * time.Millisecond)
	var after int64
	for _, p := range ps {
		after += p.runs.Load()
	}
	if after != total {
		t.Errorf("%d runs after Run returned", after-total)
	}
}

// TestRunWaitsForCheckBodiesOnCancel: checks.Runner returns at the cancel
// without waiting for the check body; Run still returns only once the
// bodies its loops started have returned, so nothing of a run comes after.
func TestRunWaitsForCheckBodiesOnCancel(t *testing.T) {
	gate := make(chan struct{}) // never closed: the body waits for ctx
	p := &probe{name: "slow-to-stop", gate: gate, linger: 50 * time.Millisecond}
	s := New([]checks.Check{p}, fast())
	stop := start(t, s)
	eventually(t, "the body to be entered", func() bool { return p.inside.Load() == 1 })
	stop()
	if in := p.inside.Load(); in != 0 {
		t.Fatalf("Run returned with %d check bodies still running", in)
	}
}

// TestRunDoesNotWaitForADeafBodyPastItsDeadline: a body that ignores its
// context holds Run up to its deadline, no longer (the runner has given up
// on it there too).
func TestRunDoesNotWaitForADeafBodyPastItsDeadline(t *testing.T) {
	gate := make(chan struct{})
	defer close(gate)
	p := &probe{name: "deaf", gate: gate, deaf: true}
	o := fast()
	o.Runner.Timeout = 50 * time.Millisecond
	s := New([]checks.Check{p}, o)
	stop := start(t, s)
	eventually(t, "the body to be entered", func() bool { return p.inside.Load() == 1 })
	stop() // fails the test unless Run returns
	if in := p.inside.Load(); in != 1 {
		t.Fatalf("%d bodies inside, want the deaf one still there", in)
	}
}

// TestHeartbeatStopsWhileARunIsStuck blocks OnChange (the part of a run the
// runner's deadline does not bound): once the run outlasts its deadline by
// StuckGrace the scheduler names the check and stops beating; released, it
// beats again.
func TestHeartbeatStopsWhileARunIsStuck(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Unix(1000, 0).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	hs := component.NewHeartbeats(5 * time.Millisecond)
	hb := hs.Add("scheduler")
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	o := fast()
	o.Runner = checks.Runner{Timeout: time.Second, Concurrency: 2, Now: now}
	o.Heartbeat = hb
	o.OnChange = func(*checks.Outcome, checks.Outcome) {
		once.Do(func() { close(entered); <-release })
	}
	s := New([]checks.Check{&probe{name: "idle"}, &probe{name: "blocked"}}, o)
	// Only one first result blocks; whichever it is, it is the stuck one.
	start(t, s)
	<-entered
	const bound = 100 * time.Millisecond
	if _, _, stuck := s.Stuck(); stuck {
		t.Fatal("a run within its deadline counted as stuck")
	}
	time.Sleep(2 * bound)
	if st := hs.Stalled(bound); len(st) != 0 {
		t.Fatalf("stalled before any run outlasted its deadline: %v", st)
	}

	clock.Add(int64(time.Second + StuckGrace + time.Millisecond))
	check, running, stuck := s.Stuck()
	if !stuck || (check != "idle" && check != "blocked") || running <= time.Second+StuckGrace {
		t.Fatalf("Stuck = %q %v %v, want a check running past its deadline + grace", check, running, stuck)
	}
	eventually(t, "the heartbeat stalls", func() bool { return len(hs.Stalled(bound)) == 1 })

	close(release)
	eventually(t, "the heartbeat resumes", func() bool { return len(hs.Stalled(bound)) == 0 })
	if _, _, stuck := s.Stuck(); stuck {
		t.Error("still stuck after the run finished")
	}
}
