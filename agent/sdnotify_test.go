package agent

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/config"
)

// TestSystemdNotifyProtocol runs an agent under a notify socket as systemd
// would give it (NOTIFY_SOCKET, WATCHDOG_USEC) and reads what it sends:
// READY once started, WATCHDOG pings at about half the period, STOPPING.
func TestSystemdNotifyProtocol(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "1000000") // 1 s: pings every 500 ms

	cfg := config.Default()
	cfg.NodeName = "notify.test.local"
	cfg.Inventory = ""
	cfg.Agent.ControlSocket = filepath.Join(t.TempDir(), "c.sock")
	cfg.Agent.HTTPAddr = ""
	cfg.Events.Enabled = false
	cfg.Mesh.BindAddr = testNet + "11"
	a, err := New(context.Background(), Options{Config: cfg, Dev: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	var msgs []string
	var pings []time.Time
	buf := make([]byte, 4096)
	deadline := time.Now().Add(20 * time.Second)
	stopped := false
	for time.Now().Before(deadline) {
		conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _, err := conn.ReadFromUnix(buf)
		if err == nil {
			m := string(buf[:n])
			msgs = append(msgs, m)
			if m == "WATCHDOG=1" {
				pings = append(pings, time.Now())
			}
			if strings.HasPrefix(m, "STOPPING=1") {
				break
			}
		}
		if len(pings) >= 4 && !stopped {
			cancel()
			stopped = true
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(msgs) == 0 || !strings.HasPrefix(msgs[0], "READY=1") {
		t.Fatalf("first message %q, want READY=1 (all: %q)", msgs, msgs)
	}
	if len(pings) < 4 {
		t.Fatalf("%d watchdog pings in %q", len(pings), msgs)
	}
	// Half of a 1 s period: consecutive pings well under the period.
	for i := 1; i < len(pings); i++ {
		if gap := pings[i].Sub(pings[i-1]); gap >= time.Second {
			t.Errorf("ping gap %v reaches the watchdog period", gap)
		}
	}
	if last := msgs[len(msgs)-1]; !strings.HasPrefix(last, "STOPPING=1") {
		t.Errorf("last message %q, want STOPPING=1", last)
	}
}

// TestWatchdogWithheldWhileSubsystemStuck blocks one loop (the tags loop,
// on its lock, as a deadlock would): the WATCHDOG=1 pings stop, the log
// names the loop once, and /healthz answers 503 naming it; unblocked,
// pings resume and /healthz is 200 again.
func TestWatchdogWithheldWhileSubsystemStuck(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "1000000") // 1 s: pings every 500 ms, a loop silent for 1 s is stuck

	cfg := config.Default()
	cfg.NodeName = "stuck.test.local"
	cfg.Inventory = ""
	cfg.Agent.ControlSocket = filepath.Join(t.TempDir(), "c.sock")
	cfg.Agent.HTTPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(freeTCPPort(t)))
	cfg.Events.Enabled = false
	cfg.Supervisor.Enabled = false
	cfg.Mesh.BindAddr = testNet + "12"
	var logs logBuffer
	a, err := New(context.Background(), Options{Config: cfg, Dev: true, Logger: logs.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	// pings counts the WATCHDOG=1 messages that arrive within d.
	buf := make([]byte, 4096)
	pings := func(d time.Duration) int {
		n := 0
		for end := time.Now().Add(d); time.Now().Before(end); {
			conn.SetReadDeadline(end)
			k, _, err := conn.ReadFromUnix(buf)
			if err == nil && string(buf[:k]) == "WATCHDOG=1" {
				n++
			}
		}
		return n
	}
	healthz := func() (int, string) {
		resp, err := http.Get("http://" + cfg.Agent.HTTPAddr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	select {
	case <-a.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("agent not ready")
	}
	if n := pings(1500 * time.Millisecond); n < 2 {
		t.Fatalf("%d pings from a healthy agent in 1.5 s", n)
	}

	a.tagsMu.Lock() // the tags loop blocks at its next refresh
	unblock := sync.OnceFunc(a.tagsMu.Unlock)
	defer unblock() // before the stop: a failed test must not hang in it
	eventually(t, "/healthz naming the stuck tags loop", 10*time.Second, func() bool {
		code, body := healthz()
		return code == http.StatusServiceUnavailable && strings.Contains(body, "stalled: tags (no progress for")
	})
	// Pings sent before the watchdog's next check (every 500 ms) saw the
	// stall are legitimate; after it, none.
	pings(700 * time.Millisecond)
	if n := pings(2 * time.Second); n != 0 {
		t.Errorf("%d pings while the tags loop was stuck", n)
	}
	if code, body := healthz(); code != http.StatusServiceUnavailable || strings.Contains(body, "scheduler") || strings.Contains(body, "mesh") {
		t.Errorf("/healthz %d %q: want 503 naming only the stuck loop", code, body)
	}
	if n := strings.Count(logs.String(), "subsystem stalled"); n != 1 || !logs.Contains("subsystem=tags") {
		t.Errorf("%d stall records, want 1 naming tags:\n%s", n, logs.String())
	}

	unblock()
	if n := pings(2 * time.Second); n == 0 {
		t.Error("no pings after the tags loop was unblocked")
	}
	if code, body := healthz(); code != http.StatusOK {
		t.Errorf("/healthz %d %q after recovery", code, body)
	}
	if !logs.Contains("subsystem progressing again") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
}
