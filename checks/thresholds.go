package checks

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Thresholds decorates a check with Consul's flap damping: a failing check
// is reported warning only after FailuresBeforeWarning consecutive failures
// and critical only after FailuresBeforeCritical. Until then the previous
// report stands. An unknown result neither counts nor resets (a probe that
// could not tell is no evidence either way); ok resets at once.
type Thresholds struct {
	Check
	FailuresBeforeWarning  int
	FailuresBeforeCritical int

	mu       sync.Mutex
	failures int
	last     *Result
}

// WithThresholds wraps c. Values below 1 mean 1 (report at once).
func WithThresholds(c Check, beforeWarning, beforeCritical int) *Thresholds {
	beforeWarning = max(beforeWarning, 1)
	beforeCritical = max(beforeCritical, beforeWarning)
	return &Thresholds{Check: c, FailuresBeforeWarning: beforeWarning, FailuresBeforeCritical: beforeCritical}
}

// Timeout forwards the wrapped check's own deadline, if any.
func (t *Thresholds) Timeout() time.Duration {
	if tc, ok := t.Check.(Timeouter); ok {
		return tc.Timeout()
	}
	return 0
}

// Run runs the wrapped check and applies the thresholds.
func (t *Thresholds) Run(ctx context.Context) Result {
	r := t.Check.Run(ctx)
	t.mu.Lock()
	defer t.mu.Unlock()
	switch r.Status {
	case OK:
		t.failures = 0
	case Unknown:
		// no change to the count
	default:
		t.failures++
		switch {
		case t.failures >= t.FailuresBeforeCritical:
			// full severity
		case t.failures >= t.FailuresBeforeWarning:
			if r.Status == Crit {
				r.Status = Warn
				r.Details = append(r.Details, fmt.Sprintf("reported as warning: %d of %d consecutive failures before critical", t.failures, t.FailuresBeforeCritical))
			}
		default:
			held := Unknownf("not yet reported", "")
			if t.last != nil {
				held = *t.last
			}
			held.Details = append(append([]string(nil), held.Details...),
				fmt.Sprintf("pending: %d of %d consecutive failures before warning: %s", t.failures, t.FailuresBeforeWarning, r.Message))
			return held
		}
	}
	t.last = &r
	return r
}

// Failures is the current count of consecutive failures.
func (t *Thresholds) Failures() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failures
}

// Resume starts the damping from a status reported before, elsewhere: a
// cluster check's new evaluator (after a handover) continues from what the
// previous one published, as if it had reported r itself after as many
// failures as that status takes. So a fault already raised stays raised
// (no second raise), and one more pass of the same severity keeps it.
func (t *Thresholds) Resume(r Result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch r.Status {
	case Crit:
		t.failures = t.FailuresBeforeCritical
	case Warn:
		t.failures = t.FailuresBeforeWarning
	default:
		t.failures = 0
	}
	t.last = &r
}
