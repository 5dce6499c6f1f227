package agent

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/kuma-agent/kuma-agent/internal/component"
)

// notify sends a state to systemd when running under Type=notify; outside
// systemd (NOTIFY_SOCKET unset) it does nothing.
func notify(state string) {
	_, _ = daemon.SdNotify(false, state)
}

// defaultStallAfter bounds a heartbeat's silence when systemd runs no
// watchdog (for /healthz and the log): the unit's WatchdogSec.
const defaultStallAfter = 30 * time.Second

// watchdogPeriod is systemd's WatchdogSec for this process (WATCHDOG_USEC
// and WATCHDOG_PID), 0 when there is none.
func watchdogPeriod() time.Duration {
	p, err := daemon.SdWatchdogEnabled(false)
	if err != nil || p <= 0 {
		return 0
	}
	return p
}

// stallAfter is how long a loop may go without beating before it counts as
// stuck: one watchdog period, as systemd allows between pings.
func stallAfter(period time.Duration) time.Duration {
	if period > 0 {
		return period
	}
	return defaultStallAfter
}

// beatEvery is how often the loops beat: at least four times per bound, so
// one late beat never costs a ping, and at least once a second.
func beatEvery(bound time.Duration) time.Duration {
	return min(time.Second, bound/4)
}

// watchdog pings systemd at half the watchdog period, as
// sd_watchdog_enabled(3) advises, but only while every loop's heartbeat is
// fresh: a deadlocked scheduler, mesh reader, tags loop, event publisher or
// supervisor stops the pings and systemd restarts the agent, instead of a
// goroutine that still happens to run keeping it alive. Each stall is
// logged once, naming the loop and how long it has been silent (/healthz
// names it too).
type watchdog struct {
	log    *slog.Logger
	beats  *component.Heartbeats
	period time.Duration // systemd's; 0: no pings, stalls are only logged
	after  time.Duration // a heartbeat silent longer than this is a stall
	notify func(string)
}

func (w *watchdog) run(ctx context.Context) {
	if w.period > 0 {
		w.log.Info("systemd watchdog enabled", "period", w.period)
	}
	t := time.NewTicker(w.after / 2)
	defer t.Stop()
	stalled := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			stalled = w.check(stalled)
		}
	}
}

// check pings if nothing is stalled; it logs stalls that are new in
// stalled and recoveries, and returns the new set.
func (w *watchdog) check(stalled map[string]bool) map[string]bool {
	now := map[string]bool{}
	for _, s := range w.beats.Stalled(w.after) {
		now[s.Name] = true
		if stalled[s.Name] {
			continue
		}
		if w.period > 0 {
			w.log.Error("subsystem stalled: withholding the watchdog ping so systemd restarts the agent",
				"subsystem", s.Name, "stalled_for", s.Age.Round(time.Millisecond))
		} else {
			w.log.Error("subsystem stalled (no systemd watchdog to restart the agent)",
				"subsystem", s.Name, "stalled_for", s.Age.Round(time.Millisecond))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(stalled)) {
		if !now[name] {
			w.log.Info("subsystem progressing again", "subsystem", name)
		}
	}
	if len(now) == 0 && w.period > 0 {
		w.notify("WATCHDOG=1")
	}
	return now
}

// stallReport is /healthz's account of stuck loops ("" when none).
func (a *Agent) stallReport() string {
	stalls := a.beats.Stalled(a.stallAfter)
	if len(stalls) == 0 {
		return ""
	}
	parts := make([]string, 0, len(stalls))
	for _, s := range stalls {
		parts = append(parts, s.Name+" (no progress for "+s.Age.Round(time.Millisecond).String()+")")
	}
	return "stalled: " + strings.Join(parts, ", ") + "\n"
}
