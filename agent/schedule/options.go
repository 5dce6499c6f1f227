package schedule

import (
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/component"
)

// Defaults for zero Options fields; they match config.Default().
const (
	DefaultInterval = 30 * time.Second
	// MaxJitter is the largest jitter fraction honoured (config validates
	// the same bound); more would let a wait shrink towards zero.
	MaxJitter = 0.5
	// maxFirstDelay caps the spread of first runs: a start must not burst,
	// but neither should `kuma-agent run` wait a whole interval to know
	// anything.
	maxFirstDelay = time.Second
	// StuckGrace is how long a run may outlast its check's deadline before
	// the scheduler counts it as stuck: the runner gives up on a check at
	// its deadline, so what remains is recording the outcome and OnChange.
	StuckGrace = 5 * time.Second
	// defaultCheckTimeout is checks.Runner's deadline when none is set.
	defaultCheckTimeout = 10 * time.Second
)

// Options configure a Scheduler. Zero values fall back to the defaults noted
// on each field.
type Options struct {
	// Runner applies the per-check deadline; Runner.Concurrency bounds the
	// parallel runs across all checks (<1 means one at a time).
	Runner checks.Runner
	// Interval is the wait between the end of one run of a check and the
	// start of its next; <=0 means DefaultInterval.
	Interval time.Duration
	// Intervals overrides Interval by check name; <=0 entries are ignored.
	Intervals map[string]time.Duration
	// Jitter is a fraction of the interval: each wait is drawn uniformly
	// from interval*(1±Jitter). Clamped to [0, MaxJitter].
	Jitter float64
	// FailuresBeforeWarning and FailuresBeforeCritical wrap every check in
	// checks.WithThresholds (values below 1 mean 1).
	FailuresBeforeWarning, FailuresBeforeCritical int
	// OnChange is called when a check's status changes, and on its first
	// result (prev nil). Calls are serialized, in Generation order, and come
	// from the scheduler's goroutines: a slow OnChange delays the next
	// result of the check that triggered it. It may call Latest, Worst and
	// Generation.
	OnChange func(prev *checks.Outcome, cur checks.Outcome)
	// Now is the clock for outcome timestamps when Runner.Now is nil.
	Now func() time.Time
	// Rand returns a float in [0, 1); nil means math/rand/v2. It is called
	// under the scheduler's lock, so a (*rand.Rand).Float64 method value,
	// which is not safe for concurrent use, is fine.
	Rand func() float64
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Heartbeat, if not nil, is beaten by Run every Heartbeat.Every() while
	// no check run is stuck (see Scheduler.Stuck): a watchdog that waits
	// for it sees a deadlocked scheduler.
	Heartbeat *component.Heartbeat
}

func (o Options) withDefaults() Options {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	o.Jitter = min(max(o.Jitter, 0), MaxJitter)
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Runner.Now == nil {
		o.Runner.Now = o.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// intervalOf is the interval for the named check.
func (o Options) intervalOf(name string) time.Duration {
	if d, ok := o.Intervals[name]; ok && d > 0 {
		return d
	}
	return o.Interval
}
