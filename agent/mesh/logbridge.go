package mesh

import (
	"bytes"
	"context"
	"log"
	"log/slog"
)

// logLevels maps the "[LEVEL]" prefixes serf and memberlist put on their
// log lines to slog levels.
var logLevels = map[string]slog.Level{
	"[TRACE]": slog.LevelDebug,
	"[DEBUG]": slog.LevelDebug,
	"[INFO]":  slog.LevelInfo,
	"[WARN]":  slog.LevelWarn,
	"[ERR]":   slog.LevelError,
	"[ERROR]": slog.LevelError,
}

// slogWriter turns serf's and memberlist's *log.Logger output into slog
// records so the daemon has one structured log.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	level, msg := parseLogLine(line)
	w.log.Log(context.Background(), level, msg)
	return len(p), nil
}

// parseLogLine splits an optional "[LEVEL] " prefix off line.
func parseLogLine(line string) (slog.Level, string) {
	prefix, rest, found := cutField(line)
	if found {
		if level, ok := logLevels[prefix]; ok {
			return level, rest
		}
	}
	return slog.LevelInfo, line
}

func cutField(line string) (string, string, bool) {
	for i := 0; i < len(line); i++ {
		if line[i] == ' ' {
			return line[:i], line[i+1:], true
		}
	}
	return line, "", len(line) > 0
}

// newStdLogger returns a *log.Logger that writes into l.
func newStdLogger(l *slog.Logger) *log.Logger {
	return log.New(slogWriter{log: l}, "", 0)
}
