package mesh

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/testlab"
)

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct{ testlab.SyncBuffer }

func (l *lockedBuffer) lines() []string {
	s := strings.TrimSpace(l.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func linesWith(lines []string, s string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

var singleRE = regexp.MustCompile(`gossip packet rejected: memberlist: Decrypt packet failed: bad key (\d+) `)

var summaryRE = regexp.MustCompile(`(\d+) gossip packets? rejected in the last 100ms: memberlist: Decrypt packet failed: bad key (\d+)`)

// Finding 6: every undecryptable gossip packet logged one ERROR line (2,750
// lines in 3.6 s from garbage). Now the first is logged, the rest are
// counted and summarized once per interval with the last error; other
// lines pass through untouched.
func TestRejectedGossipRateLimited(t *testing.T) {
	var buf lockedBuffer
	w := slogWriter{log: slog.New(slog.NewTextHandler(&buf, nil)), rej: &rejectLog{log: slog.New(slog.NewTextHandler(&buf, nil)), interval: 100 * time.Millisecond}}
	const flood = 2750
	for i := range flood {
		fmt.Fprintf(w, "[ERR] memberlist: Decrypt packet failed: bad key %d from=192.0.2.1:7946\n", i)
		if i == flood/2 {
			fmt.Fprintln(w, "[INFO] serf: EventMemberJoin: node-2 192.0.2.2")
			time.Sleep(150 * time.Millisecond) // a summary in the middle of the flood
		}
	}
	time.Sleep(350 * time.Millisecond) // the last summary, then the series closes
	lines := buf.lines()
	if n := len(linesWith(lines, "gossip packet rejected: memberlist: Decrypt packet failed: bad key 0 ")); n != 1 {
		t.Fatalf("%d first-rejection lines, want 1:\n%s", n, strings.Join(lines, "\n"))
	}
	// Every rejection is either logged on its own (the first of a series:
	// a series ends after a quiet interval, which a busy machine can make
	// of the 150 ms pause above) or counted in a summary.
	total, last := 0, 0
	for _, l := range lines {
		if m := singleRE.FindStringSubmatch(l); m != nil {
			total++
			n, _ := strconv.Atoi(m[1])
			last = max(last, n)
		}
		if m := summaryRE.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			total += n
			k, _ := strconv.Atoi(m[2])
			last = max(last, k)
			if !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "rejected="+m[1]) {
				t.Errorf("summary %q: want level ERROR and the count as an attribute", l)
			}
		}
	}
	if total != flood || last != flood-1 {
		t.Fatalf("logged and counted %d packets (last error %d), want %d (last %d):\n%s", total, last, flood, flood-1, strings.Join(lines, "\n"))
	}
	if len(lines) > 7 { // the join and a handful of series, two lines each (first, summary)
		t.Fatalf("%d log lines for %d rejected packets:\n%s", len(lines), flood, strings.Join(lines, "\n"))
	}
	if len(linesWith(lines, "EventMemberJoin")) != 1 {
		t.Fatal("an ordinary line was swallowed")
	}
	// After a quiet interval the next rejection is logged at once again.
	fmt.Fprintln(w, "[ERR] memberlist: Decrypt packet failed: bad key again from=192.0.2.1:7946")
	if n := len(linesWith(buf.lines(), "gossip packet rejected: memberlist: Decrypt packet failed: bad key again")); n != 1 {
		t.Fatalf("the first rejection after a quiet interval was not logged at once")
	}
}

// The same through a real agent: garbage on its gossip port costs one log
// line, not one per packet.
func TestGarbagePacketsCostOneLine(t *testing.T) {
	var buf lockedBuffer
	a := startAgent(t, Config{NodeName: "target", Keys: [][]byte{testKey(t)}, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	c, err := net.Dial("udp", a.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pkt := make([]byte, 200)
	for range 2750 {
		rand.Read(pkt[1:])
		pkt[0] = 1 // an encrypted message's version byte
		c.Write(pkt)
	}
	time.Sleep(time.Second)
	lines := buf.lines()
	if n := len(linesWith(lines, "gossip packet rejected")); n != 1 {
		t.Fatalf("%d rejection lines for 2750 garbage packets, want 1 now (a summary every %s):\n%s", n, rejectInterval, strings.Join(lines, "\n"))
	}
	if raw := linesWith(lines, "level=ERROR msg=\"memberlist: Decrypt"); len(raw) != 0 {
		t.Fatalf("unlimited lines: %v", raw[:1])
	}
}

// serf's warning about an answer to a query it stopped waiting for (the
// duplicates after QueryUntil returned) is logged at debug level; its
// other warnings stay warnings.
func TestLateQueryAnswersLoggedAtDebug(t *testing.T) {
	var buf lockedBuffer
	l := newStdLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Printf("[WARN] serf: reply for non-running query (LTime: 78, ID: 261434246) From: core-9.e2e.local")
	l.Printf("[WARN] serf: Failed to deliver query response, dropping")
	lines := buf.lines()
	if len(lines) != 2 {
		t.Fatalf("lines %q, want 2", lines)
	}
	if !strings.Contains(lines[0], "level=DEBUG") || !strings.Contains(lines[0], "non-running query") {
		t.Errorf("late answer: %q, want it at debug level", lines[0])
	}
	if !strings.Contains(lines[1], "level=WARN") {
		t.Errorf("another serf warning: %q, want it kept a warning", lines[1])
	}
}
