package mesh

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"log/slog"
	"strings"
	"sync"
	"time"
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
// records so the daemon has one structured log. Lines about gossip it
// rejected go through rej: one line per interval, however many packets.
type slogWriter struct {
	log *slog.Logger
	rej *rejectLog
}

func (w slogWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	level, msg := parseLogLine(line)
	if strings.HasPrefix(msg, lateAnswerMark) {
		level = slog.LevelDebug
	}
	if level >= slog.LevelWarn && w.rej != nil && isRejection(msg) {
		w.rej.add(level, msg)
		return len(p), nil
	}
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

// newStdLogger returns a *log.Logger that writes into l, rejected gossip
// summarized every rejectInterval.
func newStdLogger(l *slog.Logger) *log.Logger {
	return log.New(slogWriter{log: l, rej: &rejectLog{log: l, interval: rejectInterval}}, "", 0)
}

// rejectInterval is how often rejected gossip is summarized.
const rejectInterval = 10 * time.Second

// lateAnswerMark starts serf's line about an answer to a query it no
// longer waits for, which it logs as a warning. QueryUntil stops waiting as
// soon as every member asked has answered, so these are the duplicates
// still on their way (an answer relayed, or the first and second ask both
// answered): at 50 agents the evaluator logged hundreds a minute. An answer
// that came after the deadline instead leaves its member listed as
// unanswered in the report, which says so. Logged at debug level.
const lateAnswerMark = "serf: reply for non-running query"

// rejectionMarks are in memberlist's lines about a packet or stream it
// turned away before it could trust it: one that does not decrypt with the
// keyring (another cluster's key, garbage, a scanner), has a label it does
// not accept, or does not parse. Anyone who can send a UDP packet to the
// gossip port can make these, as fast as they like.
var rejectionMarks = []string{
	"decrypt", "label", "failed to receive", "invalid msgtype", "msg type (", "missing message type",
	"failed to decode", "failed to decompress", "failed to read remote state",
}

func isRejection(msg string) bool {
	m := strings.ToLower(msg)
	if !strings.HasPrefix(m, "memberlist:") {
		return false
	}
	for _, s := range rejectionMarks {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// rejectLog rate-limits the lines about rejected gossip: the first after
// a quiet interval is logged at once, the ones after it are counted and
// logged as one line per interval ("N gossip packets rejected in the last
// 10s: <last error>") for as long as they keep coming.
type rejectLog struct {
	log      *slog.Logger
	interval time.Duration

	mu    sync.Mutex
	timer *time.Timer // set while an interval is open
	count int
	level slog.Level
	last  string
}

func (r *rejectLog) add(level slog.Level, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer == nil {
		r.log.Log(context.Background(), level, fmt.Sprintf("gossip packet rejected: %s (more in the next %s are counted, not logged one by one)", msg, r.interval))
		r.timer = time.AfterFunc(r.interval, r.flush)
		return
	}
	r.count++
	r.level = max(r.level, level)
	r.last = msg
}

// flush logs what the interval counted and opens the next one; an interval
// without rejections closes the series.
func (r *rejectLog) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.count == 0 {
		r.timer = nil
		return
	}
	noun := "packets"
	if r.count == 1 {
		noun = "packet"
	}
	r.log.Log(context.Background(), r.level, fmt.Sprintf("%d gossip %s rejected in the last %s: %s", r.count, noun, r.interval, r.last),
		"rejected", r.count)
	r.count, r.level, r.last = 0, slog.LevelWarn, ""
	r.timer.Reset(r.interval)
}
