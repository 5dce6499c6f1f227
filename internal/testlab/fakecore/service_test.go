package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadyHealthLeaveRejoin(t *testing.T) {
	c := newTestCore(t, "--raft.join", "seed:7209")
	ns := newNotifySocket(t)
	p := start(t, []string{"NOTIFY_SOCKET=" + ns.path}, c.args...)
	ns.expect(t, "READY=1", waitTimeout)

	for _, port := range c.ports {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err != nil {
			t.Fatalf("port %d: %v", port, err)
		}
		conn.Close()
	}
	h := c.waitHealth(t, "200 follower", status(200, stateFollower))
	if h.Status != "ok" || h.ID != c.id || h.Raft.Leader != "seed:7209" {
		t.Fatalf("health = %+v", h)
	}

	c.setFault(t, faultLeave)
	h = c.waitHealth(t, "503 out", status(503, stateOut))
	if h.Status != "unavailable" || h.Raft.Leader != "" {
		t.Fatalf("health out = %+v", h)
	}
	p.waitLog(t, "raft: removed from cluster")

	code, out := runOnce(t, "core", "--install", "--raft.join", "x:7209", "--id", c.id, "--state-dir", c.dir)
	if code != 0 || !strings.Contains(out, "x:7209") {
		t.Fatalf("--install: exit %d, output %q", code, out)
	}
	began := time.Now()
	h = c.waitHealth(t, "200 follower again", status(200, stateFollower))
	// The service polls every 50 ms; allow slack for -race, but not waitTimeout.
	if d := time.Since(began); d > time.Second {
		t.Fatalf("rejoin noticed %v after --install exited, want ~200ms", d)
	}
	if h.Raft.Leader != "x:7209" {
		t.Fatalf("leader after rejoin = %q, want the --install target", h.Raft.Leader)
	}
	p.waitLog(t, "raft: rejoined cluster")
	if n := strings.Count(c.readFile(t, joinsFile), "\n"); n != 1 {
		t.Fatalf("joins.log has %d lines, want 1", n)
	}
	if f := c.readFile(t, faultFile); strings.TrimSpace(f) != "" {
		t.Fatalf("fault file after rejoin = %q, want cleared", f)
	}
}

// Clearing "leave" by hand is not a rejoin: only --install brings the Core back.
func TestLeaveNeedsInstall(t *testing.T) {
	c := newTestCore(t)
	start(t, nil, c.args...)
	c.waitHealth(t, "200", status(200, stateFollower))
	c.setFault(t, faultLeave)
	c.waitHealth(t, "503", status(503, stateOut))
	c.setFault(t, "")
	time.Sleep(4 * pollInterval)
	if code, h, err := c.get(); err != nil || code != 503 {
		t.Fatalf("after clearing leave by hand: %d %+v %v, want still 503", code, h, err)
	}
}

func TestLeaderFlag(t *testing.T) {
	c := newTestCore(t, "--leader")
	start(t, nil, c.args...)
	h := c.waitHealth(t, "200 leader", status(200, stateLeader))
	if want := fmt.Sprintf(":%d", c.ports[0]); !strings.HasSuffix(h.Raft.Leader, want) {
		t.Fatalf("leader = %q, want own address ending %q", h.Raft.Leader, want)
	}
}

func TestCrashExitsAndClearsFault(t *testing.T) {
	c := newTestCore(t)
	p := start(t, nil, c.args...)
	c.waitHealth(t, "200", status(200, stateFollower))
	c.setFault(t, faultCrash)
	if code := p.wait(t); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if f := c.readFile(t, faultFile); f != "" {
		t.Fatalf("fault file = %q, want cleared", f)
	}
	// The restart a supervisor makes comes up healthy.
	start(t, nil, c.args...)
	c.waitHealth(t, "200 after restart", status(200, stateFollower))
}

func TestCrashAlways(t *testing.T) {
	c := newTestCore(t)
	c.setFault(t, faultCrashAlways)
	ns := newNotifySocket(t)
	for i := 0; i < 2; i++ {
		p := start(t, []string{"NOTIFY_SOCKET=" + ns.path}, c.args...)
		if code := p.wait(t); code != 1 {
			t.Fatalf("start %d: exit code %d, want 1", i, code)
		}
	}
	ns.none(t, "READY=1", 100*time.Millisecond)
	if f := strings.TrimSpace(c.readFile(t, faultFile)); f != faultCrashAlways {
		t.Fatalf("fault file = %q, want left in place", f)
	}

	// Also while running.
	c.setFault(t, "")
	p := start(t, nil, c.args...)
	c.waitHealth(t, "200", status(200, stateFollower))
	c.setFault(t, faultCrashAlways)
	if code := p.wait(t); code != 1 {
		t.Fatalf("running: exit code %d, want 1", code)
	}
}

func TestHangStopsHealthAndWatchdog(t *testing.T) {
	c := newTestCore(t)
	ns := newNotifySocket(t)
	start(t, []string{"NOTIFY_SOCKET=" + ns.path, "WATCHDOG_USEC=200000"}, c.args...)
	ns.expect(t, "READY=1", waitTimeout)
	ns.expect(t, "WATCHDOG=1", waitTimeout)
	c.waitHealth(t, "200", status(200, stateFollower))

	c.setFault(t, faultHang)
	c.waitHealth(t, "unanswered", func(_ int, _ healthReply, err error) bool { return err != nil })
	// Any ping already in flight when the hang began is long delivered by now; after
	// draining, three watchdog intervals must pass in silence.
	for len(ns.msgs) > 0 {
		<-ns.msgs
	}
	ns.none(t, "WATCHDOG=1", 600*time.Millisecond)

	c.setFault(t, "")
	c.waitHealth(t, "200 after hang", status(200, stateFollower))
	ns.expect(t, "WATCHDOG=1", waitTimeout)
}

func TestSIGTERMExitsZero(t *testing.T) {
	c := newTestCore(t)
	p := start(t, nil, c.args...)
	c.waitHealth(t, "200", status(200, stateFollower))
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
}

func TestUnknownFaultIgnored(t *testing.T) {
	c := newTestCore(t)
	p := start(t, nil, c.args...)
	c.waitHealth(t, "200", status(200, stateFollower))
	c.setFault(t, "explode")
	p.waitLog(t, `unknown fault word "explode"`)
	if !strings.Contains(p.stderr.String(), c.dir+string(os.PathSeparator)+faultFile) {
		t.Fatalf("error does not name the fault file:\n%s", p.stderr)
	}
	if code, h, err := c.get(); err != nil || code != 200 || h.Raft.State != stateFollower {
		t.Fatalf("after unknown fault: %d %+v %v", code, h, err)
	}
}
