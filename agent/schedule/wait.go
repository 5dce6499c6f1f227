package schedule

import "time"

// Jittered is the wait before the next run: interval scaled by a factor drawn
// uniformly from [1-jitter, 1+jitter) by r in [0, 1). Jitter keeps the checks
// of a cluster's nodes from falling into lockstep.
func Jittered(interval time.Duration, jitter, r float64) time.Duration {
	r = min(max(r, 0), 1)
	return time.Duration(float64(interval) * (1 + jitter*(2*r-1)))
}

// firstDelay spreads first runs over [0, min(interval, maxFirstDelay)) so
// that starting the agent does not fire every check at once.
func firstDelay(interval time.Duration, r float64) time.Duration {
	r = min(max(r, 0), 1)
	return time.Duration(float64(min(interval, maxFirstDelay)) * r)
}
