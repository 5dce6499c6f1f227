package main

import (
	"context"
	"log"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// notifyReady tells systemd (Type=notify) that the ports are listening. Outside systemd
// NOTIFY_SOCKET is unset and this does nothing.
func notifyReady(l *log.Logger) {
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		l.Printf("sd_notify READY=1: %v", err)
	}
}

// watchdog pings at half of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises, and skips
// pings while hung so that systemd's WatchdogSec kills the service like a real hang.
func watchdog(ctx context.Context, l *log.Logger, hung func() bool) {
	period, err := daemon.SdWatchdogEnabled(false)
	if err != nil || period <= 0 {
		return
	}
	t := time.NewTicker(period / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if hung() {
				continue
			}
			if _, err := daemon.SdNotify(false, daemon.SdNotifyWatchdog); err != nil {
				l.Printf("sd_notify WATCHDOG=1: %v", err)
			}
		}
	}
}
