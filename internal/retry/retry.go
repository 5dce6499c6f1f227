// Package retry is the one retry loop of the agent for retries that are not
// domain logic (connecting, waiting for a stream, re-sending): exponential
// backoff with equal jitter, bounded by a context. The supervisor's healing
// backoff, with its attempt window and give-up, is domain logic and stays in
// package supervisor.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is an exponential delay with equal jitter: attempt n (0-based)
// waits Min*2^n capped at Max, then jittered into [d/2, d) so agents that
// start together do not retry in lockstep.
type Backoff struct {
	Min, Max time.Duration
	// Rand returns a value in [0,1); nil means math/rand. Tests inject it.
	Rand func() float64
}

// Delay is the wait before retry number attempt (0-based).
func (b Backoff) Delay(attempt int) time.Duration {
	d := max(b.Min, 1)
	for i := 0; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	if b.Max > 0 {
		d = min(d, b.Max)
	}
	r := b.Rand
	if r == nil {
		r = rand.Float64
	}
	return d/2 + time.Duration(r()*float64(d/2))
}

// Do runs fn until it returns nil (Do returns nil) or ctx is done (Do
// returns ctx's error). After each failure it calls onErr, when not nil,
// with the error and the wait before the next attempt, then waits.
func Do(ctx context.Context, b Backoff, fn func(ctx context.Context) error, onErr func(err error, wait time.Duration)) error {
	for attempt := 0; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := b.Delay(attempt)
		if onErr != nil {
			onErr(err, wait)
		}
		if !Sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}

// Sleep waits d or until ctx is done; it reports whether the full wait
// passed. Unlike time.After it leaves no timer behind when ctx ends first.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
