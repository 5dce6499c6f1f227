package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/config"
)

// run is dispatch with buffers.
func run(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = dispatch(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// writeConfig writes the default agent.yaml, changed by edit, and returns
// its path.
func writeConfig(t *testing.T, edit func(*config.Config)) string {
	t.Helper()
	cfg := config.Default()
	edit(&cfg)
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEveryCommandHelpAndUnknownFlag(t *testing.T) {
	for _, c := range commands(stdio{}) {
		t.Run(c.name, func(t *testing.T) {
			for _, args := range [][]string{{c.name, "-h"}, {c.name, "--help"}, {"help", c.name}} {
				code, out, errOut := run(context.Background(), args...)
				if code != 0 || !strings.HasPrefix(out, "usage: kuma-agent "+c.name) || errOut != "" {
					t.Errorf("%v: exit %d, stdout %q, stderr %q; want 0 and the usage on stdout", args, code, out, errOut)
				}
			}
			code, out, errOut := run(context.Background(), c.name, "--no-such-flag")
			if code != 2 || !strings.HasPrefix(errOut, "kuma-agent "+c.name+": flag provided but not defined: -no-such-flag\n") || out != "" {
				t.Errorf("unknown flag: exit %d, stdout %q, stderr %q; want 2 and the prefixed error on stderr", code, out, errOut)
			}
		})
	}
	if code, out, _ := run(context.Background(), "--help"); code != 0 || !strings.Contains(out, "Commands:") {
		t.Errorf("kuma-agent --help: exit %d %q", code, out)
	}
}

func TestErrorsHaveTheCommandPrefix(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.yaml")
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"members", "--config", missing}, 2},
		{[]string{"units", "--format", "xml"}, 2},
		{[]string{"keyring", "install", "not-a-key"}, 2},
		{[]string{"keygen", "extra"}, 2},
		{[]string{"config", "check", missing}, 1},
		{[]string{"doctor", "--cluster", "--config", writeConfig(t, func(c *config.Config) {
			c.Agent.ControlSocket = filepath.Join(t.TempDir(), "absent.sock")
		})}, 2},
	} {
		code, _, errOut := run(context.Background(), tt.args...)
		if code != tt.code || !strings.HasPrefix(errOut, "kuma-agent "+tt.args[0]+": ") {
			t.Errorf("%v: exit %d, stderr %q; want %d and the prefix", tt.args, code, errOut, tt.code)
		}
	}
}

// silentAgent is a control socket that accepts and never answers; the
// config it returns points at it.
func silentAgent(t *testing.T) string {
	t.Helper()
	cfg, _ := silentAgentAccepts(t)
	return cfg
}

// silentAgentAccepts is silentAgent that also says when a client connected
// (one value per connection).
func silentAgentAccepts(t *testing.T) (string, <-chan struct{}) {
	t.Helper()
	accepted := make(chan struct{}, 16)
	sock := filepath.Join(t.TempDir(), "control.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return writeConfig(t, func(c *config.Config) { c.Agent.ControlSocket = sock }), accepted
}

func TestDoctorClusterTimesOut(t *testing.T) {
	cfg := silentAgent(t)
	start := time.Now()
	code, out, errOut := run(context.Background(), "doctor", "--cluster", "--config", cfg, "--timeout", "300ms")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s with --timeout 300ms", d)
	}
	if code != 2 || out != "" || !strings.HasPrefix(errOut, "kuma-agent doctor: control socket ") ||
		!strings.Contains(errOut, "did not answer within 300ms (--timeout)") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestClientCommandsEndOnInterrupt: the first SIGINT cancels the root
// context; a command blocked reading the control socket returns at once,
// not at its --timeout.
func TestClientCommandsEndOnInterrupt(t *testing.T) {
	cfg := silentAgent(t)
	for _, args := range [][]string{
		{"doctor", "--cluster"}, {"members"}, {"units"}, {"leave"}, {"keyring", "list"},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		code, _, errOut := run(ctx, append(args, "--config", cfg, "--timeout", "1h")...)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%v: took %s after the interrupt", args, d)
		}
		if code == 0 || !strings.HasPrefix(errOut, "kuma-agent "+args[0]+": ") || !strings.Contains(errOut, "context canceled") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
		cancel()
	}
}

// TestDoctorClusterShowsTheDuration: the reports doctor --cluster rebuilds
// from the agent's answer carry the round's duration, not 0 ms.
func TestDoctorClusterShowsTheDuration(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "control.sock")
	rep := control.ClusterReport{
		Self:    "core-1.x",
		Members: []control.MemberInfo{{Name: "core-1.x", Roles: []string{"core"}}},
		Nodes: []clusterchecks.DoctorReply{{Host: "core-1.x", Findings: []clusterchecks.FindingWire{
			clusterchecks.FindingOf("ntp", checks.AreaTime, checks.Result{Status: checks.OK, Message: "offset 1ms"}),
		}}},
		Cluster:    []clusterchecks.NamedResult{{Name: "clock-skew", Result: checks.Result{Status: checks.OK, Message: "within 50ms"}}},
		Status:     checks.OK,
		DurationMS: 42.4,
	}
	serveControl(t, sock, rep)
	cfg := writeConfig(t, func(c *config.Config) { c.Agent.ControlSocket = sock })

	code, out, errOut := run(context.Background(), "doctor", "--cluster", "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if n := strings.Count(out, " in 42 ms"); n != 3 || strings.Contains(out, " in 0 ms") {
		t.Errorf("want the round's 42 ms in the header, the node's and the cluster's summary (got %d):\n%s", n, out)
	}
}

// serveControl answers OpClusterDoctor on sock with rep until the test ends.
func serveControl(t *testing.T, sock string, rep control.ClusterReport) {
	t.Helper()
	serveClusterDoctor(t, sock, func(context.Context, json.RawMessage) (any, error) { return rep, nil })
}

// serveClusterDoctor answers OpClusterDoctor on sock with h until the test
// ends.
func serveClusterDoctor(t *testing.T, sock string, h control.Handler) {
	t.Helper()
	serveHandlers(t, sock, map[string]control.Handler{control.OpClusterDoctor: h})
}

// serveHandlers serves a control socket at sock with handlers until the
// test ends.
func serveHandlers(t *testing.T, sock string, handlers map[string]control.Handler) {
	t.Helper()
	srv, err := control.Listen(sock, handlers, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}
