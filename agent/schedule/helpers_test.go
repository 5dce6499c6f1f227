package schedule

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
)

// probe is a check that records how often and how concurrently it runs and
// returns the status its script gives for the nth run.
type probe struct {
	name   string
	script func(n int) checks.Status // nil: always OK
	hold   time.Duration             // time spent inside Run (honours ctx)
	gate   chan struct{}             // if set, Run waits for it (ignoring ctx when deaf)
	deaf   bool
	linger time.Duration // time spent winding down once ctx is done

	runs   atomic.Int64
	inside atomic.Int32
	peak   atomic.Int32
	shared *gauge // concurrency across probes, optional
}

// gauge tracks a current and a peak count.
type gauge struct{ cur, peak atomic.Int32 }

func (g *gauge) enter() {
	n := g.cur.Add(1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
}
func (g *gauge) leave() { g.cur.Add(-1) }

func (p *probe) Name() string      { return p.name }
func (p *probe) Area() checks.Area { return checks.AreaCluster }
func (p *probe) Run(ctx context.Context) checks.Result {
	n := int(p.runs.Add(1)) - 1
	in := p.inside.Add(1)
	defer p.inside.Add(-1)
	for pk := p.peak.Load(); in > pk && !p.peak.CompareAndSwap(pk, in); pk = p.peak.Load() {
	}
	if p.shared != nil {
		p.shared.enter()
		defer p.shared.leave()
	}
	if p.gate != nil {
		if p.deaf {
			<-p.gate
		} else {
			select {
			case <-p.gate:
			case <-ctx.Done():
			}
		}
	}
	if p.hold > 0 {
		select {
		case <-time.After(p.hold):
		case <-ctx.Done():
		}
	}
	if p.linger > 0 && ctx.Err() != nil {
		time.Sleep(p.linger)
	}
	st := checks.OK
	if p.script != nil {
		st = p.script(n)
	}
	return checks.Result{Status: st, Message: p.name}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fast are options for loop tests: short intervals, generous deadlines.
func fast() Options {
	return Options{
		Runner:   checks.Runner{Timeout: 5 * time.Second, Concurrency: 4},
		Interval: 5 * time.Millisecond,
		Jitter:   0.1,
		Logger:   quiet(),
	}
}

// eventually polls cond for up to 10s (generous: CI machines are slow).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// start runs s in the background; the returned stop cancels it and fails
// the test unless Run returns nil promptly.
func start(t *testing.T, s *Scheduler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v after cancel", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
