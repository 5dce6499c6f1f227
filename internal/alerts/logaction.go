package alerts

import (
	"context"
	"fmt"
	"log/slog"
	"log/syslog"
	"sync"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// logAction writes a structured slog record; under systemd stderr goes to
// the journal with its fields.
type logAction struct {
	name string
	log  *slog.Logger
}

// levels maps event severity to a log level; unknown severities are Info.
var levels = map[events.Severity]slog.Level{
	events.SeverityInfo:     slog.LevelInfo,
	events.SeverityWarning:  slog.LevelWarn,
	events.SeverityCritical: slog.LevelError,
}

func (l *logAction) deliver(ctx context.Context, j job, _ []byte) error {
	ev := j.ev
	l.log.Log(ctx, levels[ev.Severity], "alert",
		"action", l.name, "rules", j.rules, "event_id", ev.ID, "type", string(ev.ShortType()),
		"severity", string(ev.Severity), "node", ev.Node(), "subject", ev.Subject,
		"time", ev.Time, "data", string(ev.Data))
	return nil
}

// SyslogWriter is the part of *syslog.Writer a syslog action uses.
type SyslogWriter interface {
	Crit(m string) error
	Warning(m string) error
	Info(m string) error
	Close() error
}

func dialSyslog(tag string) (SyslogWriter, error) {
	return syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, tag)
}

// syslogAction sends the event JSON to the local syslog (/dev/log) at a
// priority from its severity. It connects lazily and reconnects after an
// error, so a restarted syslog daemon costs one event at most.
type syslogAction struct {
	name string
	tag  string
	dial func(tag string) (SyslogWriter, error)

	mu sync.Mutex
	w  SyslogWriter
}

func (s *syslogAction) deliver(_ context.Context, j job, body []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		w, err := s.dial(s.tag)
		if err != nil {
			return fmt.Errorf("syslog %s: %w", s.name, err)
		}
		s.w = w
	}
	write := map[events.Severity]func(string) error{
		events.SeverityCritical: s.w.Crit,
		events.SeverityWarning:  s.w.Warning,
	}[j.ev.Severity]
	if write == nil {
		write = s.w.Info
	}
	if err := write(string(body)); err != nil {
		_ = s.w.Close()
		s.w = nil
		return fmt.Errorf("syslog %s: %w", s.name, err)
	}
	return nil
}
