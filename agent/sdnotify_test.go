package agent

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
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
