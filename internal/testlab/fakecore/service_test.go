package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadyHealthLeaveRejoin(t *testing.T) {
	c := newTestCore(t, "--raft.join", "seed:7209")
	ns := newNotifySocket(t)
	p := start(t, c.with("NOTIFY_SOCKET="+ns.path), c.args...)
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
	h = c.waitHealth(t, "out", status(200, stateOut))
	if h.Status != "unavailable" || h.Raft.Leader != "" {
		t.Fatalf("health out = %+v", h)
	}
	p.waitLog(t, "raft: removed from cluster")

	code, out := runOnce(t, c.env, "core", "--install", "--raft.join", "x:7209", "--id", c.id)
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
	c := newTestCore(t, "--raft.join", "seed:7209")
	start(t, c.env, c.args...)
	c.waitHealth(t, "200", status(200, stateFollower))
	c.setFault(t, faultLeave)
	c.waitHealth(t, "out", status(200, stateOut))
	c.setFault(t, "")
	time.Sleep(4 * pollInterval)
	if _, h, err := c.get(); err != nil || h.Raft.State != stateOut {
		t.Fatalf("after clearing leave by hand: %+v %v, want still out", h, err)
	}
}

// The first Core (no --raft.join) leads and reports its --raft.node.addr; the
// role file overrides.
func TestFirstCoreLeads(t *testing.T) {
	c := newTestCore(t, "--raft.node.addr", "core-1.example:7209")
	start(t, c.env, c.args...)
	h := c.waitHealth(t, "200 leader", status(200, stateLeader))
	if h.Raft.Leader != "core-1.example:7209" {
		t.Fatalf("leader = %q, want its --raft.node.addr", h.Raft.Leader)
	}
	c.setFile(t, roleFile, stateFollower)
	c.waitHealth(t, "200 follower", status(200, stateFollower))
	// Without --raft.node.addr, the host name and the Raft listener's port.
	c2 := newTestCore(t)
	start(t, c2.env, c2.args...)
	h = c2.waitHealth(t, "200 leader", status(200, stateLeader))
	if want := fmt.Sprintf(":%d", c2.ports[0]); !strings.HasSuffix(h.Raft.Leader, want) {
		t.Fatalf("leader = %q, want own address ending %q", h.Raft.Leader, want)
	}
}

func TestCrashExitsAndClearsFault(t *testing.T) {
	c := newTestCore(t, "--raft.join", "seed:7209")
	p := start(t, c.env, c.args...)
	c.waitHealth(t, "200", status(200, stateFollower))
	c.setFault(t, faultCrash)
	if code := p.wait(t); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if f := c.readFile(t, faultFile); f != "" {
		t.Fatalf("fault file = %q, want cleared", f)
	}
	// The restart a supervisor makes comes up healthy.
	start(t, c.env, c.args...)
	c.waitHealth(t, "200 after restart", status(200, stateFollower))
}

func TestCrashAlways(t *testing.T) {
	c := newTestCore(t, "--raft.join", "seed:7209")
	c.setFault(t, faultCrashAlways)
	ns := newNotifySocket(t)
	for i := 0; i < 2; i++ {
		p := start(t, c.with("NOTIFY_SOCKET="+ns.path), c.args...)
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
	p := start(t, c.env, c.args...)
	c.waitHealth(t, "200", status(200, stateFollower))
	c.setFault(t, faultCrashAlways)
	if code := p.wait(t); code != 1 {
		t.Fatalf("running: exit code %d, want 1", code)
	}
}

func TestHangStopsHealthAndWatchdog(t *testing.T) {
	c := newTestCore(t, "--raft.join", "seed:7209")
	ns := newNotifySocket(t)
	start(t, c.with("NOTIFY_SOCKET="+ns.path, "WATCHDOG_USEC=200000"), c.args...)
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
	c := newTestCore(t, "--raft.join", "seed:7209")
	p := start(t, c.env, c.args...)
	c.waitHealth(t, "200", status(200, stateFollower))
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
}

func TestUnknownFaultIgnored(t *testing.T) {
	c := newTestCore(t, "--raft.join", "seed:7209")
	p := start(t, c.env, c.args...)
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

// The working directory has raft/ and the database file; raft/.reset makes the next
// start a one-node cluster this Core leads (even with --raft.join still in its unit),
// and is removed.
func TestWorkDirAndReset(t *testing.T) {
	c := newTestCore(t, "--raft.join", "seed:7209", "--raft.node.addr", "core-2.example:7209")
	p := start(t, c.env, c.args...)
	c.waitHealth(t, "200 follower", status(200, stateFollower))
	for _, f := range []string{raftDir, dbFile} {
		if _, err := os.Stat(filepath.Join(c.work, f)); err != nil {
			t.Fatalf("working directory: %v", err)
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.wait(t)
	reset := filepath.Join(c.work, raftDir, resetFile)
	if err := os.WriteFile(reset, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p = start(t, c.env, c.args...)
	h := c.waitHealth(t, "200 leader", status(200, stateLeader))
	if h.Raft.Leader != "core-2.example:7209" {
		t.Fatalf("leader after reset = %q, want itself", h.Raft.Leader)
	}
	p.waitLog(t, "one-node cluster")
	if _, err := os.Stat(reset); !os.IsNotExist(err) {
		t.Fatalf(".reset still there: %v", err)
	}
	if m, _ := os.ReadFile(filepath.Join(c.work, raftDir, membersLog)); string(m) != "core-2.example:7209\n" {
		t.Fatalf("members after reset = %q", m)
	}
}

// The health format is the control directory's: json, text or 404 on every path.
func TestHealthFormats(t *testing.T) {
	c := newTestCore(t)
	start(t, c.env, c.args...)
	c.waitHealth(t, "200 leader", status(200, stateLeader))
	get := func(path string) (int, string) {
		resp, err := http.Get(strings.TrimSuffix(c.health, "/health") + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	c.setFile(t, formatFile, formatText)
	waitFor(t, "text format", func() bool { code, body := get("/health"); return code == 200 && body == "raft_state=leader\n" })
	c.setFile(t, formatFile, format404)
	waitFor(t, "404 format", func() bool { a, _ := get("/health"); b, _ := get("/"); return a == 404 && b == 404 })
	c.setFile(t, formatFile, formatJSON)
	c.waitHealth(t, "json again", status(200, stateLeader))
	c.setFile(t, formatFile, formatJSON503)
	c.setFault(t, faultLeave)
	c.waitHealth(t, "json503 out", status(503, stateOut))
}

// No listener flag, no listener: nothing is assumed.
func TestNoListenerFlagsNoListeners(t *testing.T) {
	c := newTestCore(t)
	p := start(t, c.env, "core", "--id", c.id)
	p.waitLog(t, "listening: ;")
	if _, err := http.Get(c.health); err == nil {
		t.Fatal("health answered without --health")
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
