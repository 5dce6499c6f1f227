package agent

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// notify sends a state to systemd when running under Type=notify; outside
// systemd (NOTIFY_SOCKET unset) it does nothing.
func notify(state string) {
	_, _ = daemon.SdNotify(false, state)
}

// heartbeat is bumped by the agent's main loop. The watchdog pings systemd
// only while it moves, so a hung agent is restarted by WatchdogSec instead
// of being kept alive by a goroutine that still happens to run.
type heartbeat struct{ last atomic.Int64 }

func newHeartbeat() *heartbeat {
	h := &heartbeat{}
	h.beat()
	return h
}

func (h *heartbeat) beat() { h.last.Store(time.Now().UnixNano()) }

func (h *heartbeat) since() time.Duration { return time.Since(time.Unix(0, h.last.Load())) }

// heartbeatEvery is how often the main loop beats: at least four times per
// watchdog period, so one late beat never costs a ping.
func heartbeatEvery() time.Duration {
	every := time.Second
	if p, err := daemon.SdWatchdogEnabled(false); err == nil && p > 0 && p/4 < every {
		every = p / 4
	}
	return every
}

// watchdog pings at half of WatchdogSec, as sd_watchdog_enabled(3) advises,
// while the main loop has beaten within one full period.
func watchdog(ctx context.Context, log *slog.Logger, hb *heartbeat) {
	period, err := daemon.SdWatchdogEnabled(false)
	if err != nil || period <= 0 {
		return
	}
	log.Info("systemd watchdog enabled", "period", period)
	t := time.NewTicker(period / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if hb.since() < period {
				notify("WATCHDOG=1")
			} else {
				log.Error("main loop stalled: withholding the watchdog ping so systemd restarts the agent", "stalled_for", hb.since())
			}
		}
	}
}
