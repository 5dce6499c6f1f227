package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/proc/proctest"
)

func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not found: %v", name, err)
	}
	p, _ = filepath.Abs(p)
	return p
}

func commandConfig(argv []string, timeout time.Duration) *Config {
	return &Config{
		QueueSize: 4,
		Rules:     []Rule{{Name: "all", Actions: []string{"cmd"}}},
		Actions:   map[string]Action{"cmd": {Type: ActionCommand, Command: argv, Timeout: timeout}},
	}
}

func TestCommandGetsEventOnStdin(t *testing.T) {
	out := filepath.Join(t.TempDir(), "event.json")
	ev := mustEvent(t, "kuma-core-1", events.MemberFailed, events.SeverityCritical)
	a := New(commandConfig([]string{lookPath(t, "tee"), out}, 10*time.Second), discardLog())
	if err := a.Run(context.Background(), sliceSource{ev}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(ev)
	if !bytes.Equal(got, want) {
		t.Errorf("stdin = %s\nwant    %s", got, want)
	}
	if s := a.Stats()["cmd"]; s != (Stats{Matched: 1, Delivered: 1}) {
		t.Errorf("stats = %+v", s)
	}
}

func TestCommandFailureLogsOutput(t *testing.T) {
	var logs bytes.Buffer
	a := New(commandConfig([]string{lookPath(t, "sh"), "-c", "echo boom-on-stderr >&2; exit 3"}, 10*time.Second),
		slog.New(slog.NewJSONHandler(&logs, nil)))
	if err := a.Run(context.Background(), sliceSource{mustEvent(t, "n", events.MemberFailed, events.SeverityInfo)}); err != nil {
		t.Fatal(err)
	}
	if s := a.Stats()["cmd"]; s.Failed != 1 || s.Delivered != 0 {
		t.Errorf("stats = %+v", s)
	}
	if !strings.Contains(logs.String(), "boom-on-stderr") || !strings.Contains(logs.String(), "exit status 3") {
		t.Errorf("log lacks the command output or exit status:\n%s", logs.String())
	}
}

// A timeout kills the whole process group, not just the direct child.
func TestCommandTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	c := &commandAction{name: "cmd", log: discardLog(), cfg: Action{Timeout: 2 * time.Second,
		Command: []string{lookPath(t, "sh"), "-c", `sleep 60 & echo $! > "$0"; wait`, pidFile}}}
	err := c.deliver(context.Background(), job{}, []byte("{}"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	proctest.WaitDead(t, pid)
}
