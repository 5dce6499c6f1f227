package component

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/retry"
)

// DefaultBeatEvery is how often a loop beats when its Heartbeat does not
// say (a nil Heartbeat).
const DefaultBeatEvery = time.Second

// Heartbeats are the heartbeats of a daemon's loops, for its watchdog.
type Heartbeats struct {
	every time.Duration
	now   func() time.Time

	mu    sync.Mutex
	beats []*Heartbeat
}

// NewHeartbeats makes a set whose loops beat every `every` (<=0 means
// DefaultBeatEvery).
func NewHeartbeats(every time.Duration) *Heartbeats {
	if every <= 0 {
		every = DefaultBeatEvery
	}
	return &Heartbeats{every: every, now: time.Now}
}

// Add registers the heartbeat of the loop called name; it counts as having
// beaten now.
func (hs *Heartbeats) Add(name string) *Heartbeat {
	h := &Heartbeat{name: name, every: hs.every, now: hs.now}
	h.Beat()
	hs.mu.Lock()
	hs.beats = append(hs.beats, h)
	hs.mu.Unlock()
	return h
}

// Stall is a heartbeat that has not beaten for Age.
type Stall struct {
	Name string
	Age  time.Duration
}

// Stalled lists the heartbeats, retired ones aside, that have not beaten
// for longer than after, by name.
func (hs *Heartbeats) Stalled(after time.Duration) []Stall {
	hs.mu.Lock()
	beats := slices.Clone(hs.beats)
	hs.mu.Unlock()
	now := hs.now()
	var out []Stall
	for _, h := range beats {
		if h.retired.Load() {
			continue
		}
		if age := now.Sub(time.Unix(0, h.last.Load())); age > after {
			out = append(out, Stall{Name: h.name, Age: age})
		}
	}
	slices.SortFunc(out, func(a, b Stall) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Heartbeat is one loop's proof of progress. The loop beats it at least
// every Every, from the place that shows it moves: its select on a ticker
// when it waits legitimately, after each step when it works. A nil
// *Heartbeat is valid and does nothing, for loops run outside a daemon
// (tests).
type Heartbeat struct {
	name    string
	every   time.Duration
	now     func() time.Time
	last    atomic.Int64 // unix nanoseconds
	retired atomic.Bool
}

// Name is the loop's name.
func (h *Heartbeat) Name() string {
	if h == nil {
		return ""
	}
	return h.name
}

// Beat records progress now.
func (h *Heartbeat) Beat() {
	if h != nil {
		h.last.Store(h.now().UnixNano())
	}
}

// Every is how often the loop must beat.
func (h *Heartbeat) Every() time.Duration {
	if h == nil {
		return DefaultBeatEvery
	}
	return h.every
}

// Retire takes the heartbeat out of the watch: its loop ended on purpose
// (a subsystem that gave up and is reported otherwise), and its silence
// from now on is not a stall.
func (h *Heartbeat) Retire() {
	if h != nil {
		h.retired.Store(true)
	}
}

// Wait waits d, or until wake receives (nil: never) or ctx ends, beating
// every Every meanwhile: a loop that waits legitimately still shows
// progress. It reports false when ctx ended.
func (h *Heartbeat) Wait(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	h.Beat()
	timer := time.NewTimer(d)
	defer timer.Stop()
	tick := time.NewTicker(h.Every())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			h.Beat()
			return true
		case <-wake:
			h.Beat()
			return true
		case <-tick.C:
			h.Beat()
		}
	}
}

// Sleep is Wait without a wake channel: retry.Sleep for a loop with a
// heartbeat.
func (h *Heartbeat) Sleep(ctx context.Context, d time.Duration) bool {
	return h.Wait(ctx, d, nil)
}

// Retry is retry.Do for a loop with a heartbeat: the waits between
// attempts beat it (a backoff may wait longer than the watchdog allows a
// silence), the attempts themselves do not (one that hangs is a stall).
func (h *Heartbeat) Retry(ctx context.Context, b retry.Backoff, fn func(ctx context.Context) error, onErr func(err error, wait time.Duration)) error {
	for attempt := 0; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			h.Beat()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := b.Delay(attempt)
		if onErr != nil {
			onErr(err, wait)
		}
		if !h.Sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}
