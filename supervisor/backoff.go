package supervisor

import (
	"math/rand/v2"
	"time"
)

// Backoff is the local healing policy of one unit: the first attempt is
// immediate, the k-th waits Initial·2^(k-2) (capped at Max, ±Jitter), and
// attempts older than Window are forgotten. MaxAttempts in one window means
// give up: the unit needs a person.
type Backoff struct {
	Initial     time.Duration
	Max         time.Duration
	Jitter      float64 // fraction, 0..1
	Window      time.Duration
	MaxAttempts int
	// Rand returns a float in [0,1); nil means math/rand.
	Rand func() float64
}

// attempts is the attempt history of one unit, oldest first.
type attempts []time.Time

// live drops the attempts that have expired at now.
func (a attempts) live(now time.Time, window time.Duration) attempts {
	i := 0
	for i < len(a) && now.Sub(a[i]) >= window {
		i++
	}
	return a[i:]
}

// Next says when the next attempt may run, given the live history at now,
// and whether the policy gave up instead.
func (b Backoff) Next(history attempts, now time.Time) (at time.Time, giveUp bool) {
	h := history.live(now, b.Window)
	if b.MaxAttempts > 0 && len(h) >= b.MaxAttempts {
		return time.Time{}, true
	}
	if len(h) == 0 {
		return now, false
	}
	return h[len(h)-1].Add(b.delay(len(h))), false
}

// delay is the wait after the n-th attempt (n >= 1).
func (b Backoff) delay(n int) time.Duration {
	d := b.Initial
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	if b.Jitter > 0 {
		r := rand.Float64
		if b.Rand != nil {
			r = b.Rand
		}
		d = time.Duration(float64(d) * (1 + b.Jitter*(2*r()-1)))
	}
	return d
}
