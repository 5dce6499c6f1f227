package mesh

import "time"

// backoff is an exponential retry delay with jitter.
type backoff struct {
	Min, Max time.Duration
	// Rand returns a value in [0,1); injectable for tests.
	Rand func() float64
}

// defaultJoinBackoff: start at 1s so a cluster that boots together forms
// fast, cap at 30s so a long outage costs few log lines.
var defaultJoinBackoff = backoff{Min: time.Second, Max: 30 * time.Second}

// delay returns the wait before retry number attempt (0-based): Min*2^attempt
// capped at Max, then jittered into [d/2, d) so agents that start together
// do not retry in lockstep.
func (b backoff) delay(attempt int) time.Duration {
	d := b.Min
	for i := 0; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	return d/2 + time.Duration(b.Rand()*float64(d/2))
}
