package checks

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// Outcome is one check's result with the facts of its run.
type Outcome struct {
	Check    string        `json:"check"`
	Area     Area          `json:"area"`
	Result                 // embedded: status, message, details, remedy
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration"`
}

// Timeouter is implemented by checks that need a deadline other than the
// runner's default (plugins, NTP with several servers).
type Timeouter interface {
	Timeout() time.Duration
}

// Runner executes checks with a deadline each and bounded concurrency.
type Runner struct {
	// Timeout is the default per-check deadline.
	Timeout time.Duration
	// Concurrency bounds parallel checks; <1 means one at a time.
	Concurrency int
	// Now is the clock (tests inject one).
	Now func() time.Time
}

func (r Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// RunAll runs every check and returns outcomes in the order of cs.
func (r Runner) RunAll(ctx context.Context, cs []Check) []Outcome {
	out := make([]Outcome, len(cs))
	n := max(r.Concurrency, 1)
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = r.Run(ctx, c)
		}()
	}
	wg.Wait()
	return out
}

// Run executes one check under its deadline. A check that overruns is
// reported unknown at the deadline (its goroutine is left to notice the
// cancelled context); a panic becomes an unknown result, never a crash.
func (r Runner) Run(ctx context.Context, c Check) Outcome {
	timeout := r.Timeout
	if t, ok := c.(Timeouter); ok && t.Timeout() > 0 {
		timeout = t.Timeout()
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	start := r.now()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// A result that arrives after the deadline is a timeout, whichever of
	// the two the select sees first: a check that returns "ok" because its
	// context was cancelled has not shown anything.
	expired := func() Result {
		if ctx.Err() != nil {
			return Unknownf("cancelled before the check finished", "")
		}
		return Unknownf(fmt.Sprintf("timed out after %v", timeout),
			"the check did not finish in time; run `kuma-agent doctor --only "+c.Name()+"` again, and raise checks.timeout if this host is slow")
	}
	done := make(chan Result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- Unknownf(fmt.Sprintf("check %s panicked: %v", c.Name(), p),
					"this is a bug in kuma-agent; please report it with the output of `kuma-agent doctor --format json`",
					string(debug.Stack()))
			}
		}()
		r := c.Run(cctx)
		if cctx.Err() != nil {
			r = expired()
		}
		done <- r
	}()

	var res Result
	select {
	case res = <-done:
	case <-cctx.Done():
		res = expired()
	}
	return Outcome{Check: c.Name(), Area: c.Area(), Result: res, Started: start, Duration: r.now().Sub(start)}
}
