package agent

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/mesh"
	"github.com/kuma-agent/kuma-agent/agent/schedule"
	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/plan"
)

// devConfig is a --dev agent's config on its own loopback address, its
// control socket in a temporary directory, no HTTP and no supervisor.
func devConfig(t *testing.T, name, addrSuffix string) config.Config {
	cfg := config.Default()
	cfg.NodeName = name
	cfg.Inventory = ""
	cfg.Agent.ControlSocket = filepath.Join(t.TempDir(), "c.sock")
	cfg.Agent.HTTPAddr = ""
	cfg.Supervisor.Enabled = false
	cfg.Mesh.BindAddr = testNet + addrSuffix
	return cfg
}

// devDirs lists the --dev state dirs under TMPDIR.
func devDirs(t *testing.T, tmp string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(tmp, "kuma-agent-dev-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestStartFailureCleansUp: with agent.http_addr taken, Run fails after the
// control socket and the mesh started; what started is stopped, so the
// socket file and --dev's state dir are gone.
func TestStartFailureCleansUp(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where --dev makes its state dir
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := devConfig(t, "busy.test.local", "14")
	cfg.Agent.HTTPAddr = busy.Addr().String()
	a, err := New(context.Background(), Options{Config: cfg, Dev: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if len(devDirs(t, tmp)) != 1 {
		t.Fatalf("dev state dirs %v after New, want one", devDirs(t, tmp))
	}
	err = a.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "agent.http_addr") {
		t.Fatalf("Run = %v, want the http_addr error", err)
	}
	if _, err := os.Stat(cfg.Agent.ControlSocket); !os.IsNotExist(err) {
		t.Errorf("control socket %s left behind (%v)", cfg.Agent.ControlSocket, err)
	}
	if d := devDirs(t, tmp); len(d) != 0 {
		t.Errorf("dev state dir left behind: %v", d)
	}
	// The mesh was shut down: its address is free for the next start.
	cfg.Agent.HTTPAddr = ""
	b, err := New(context.Background(), Options{Config: cfg, Dev: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	select {
	case <-b.Ready():
	case err := <-done:
		t.Fatalf("restart after the failed start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("restart not ready")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestNewFailureRemovesDevDir: New fails after making --dev's state dir
// (here the supervisor's backoff is invalid); the dir goes with it.
func TestNewFailureRemovesDevDir(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	cfg := devConfig(t, "bad.test.local", "15")
	cfg.Supervisor.Enabled = true
	cfg.Supervisor.Backoff.Initial = 0
	if _, err := New(context.Background(), Options{Config: cfg, Dev: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err == nil {
		t.Fatal("New accepted a supervisor backoff of 0")
	}
	if d := devDirs(t, tmp); len(d) != 0 {
		t.Errorf("dev state dir left behind: %v", d)
	}
}

// switchCheck reports the status it is set to.
type switchCheck struct {
	name   string
	status atomic.Int32
}

func (c *switchCheck) Name() string      { return c.name }
func (c *switchCheck) Area() checks.Area { return checks.AreaPlugin }
func (c *switchCheck) Run(context.Context) checks.Result {
	return checks.Result{Status: checks.Status(c.status.Load()), Message: "as set"}
}

// TestTagsKeepLastGoodOnEncodeError: a failing check whose name the tag
// format cannot carry (a comma) makes the tags unencodable. The node keeps
// gossiping its last good tags (roles, health) instead of an empty set,
// says so in the log and in kuma_agent_gossip_tags_stale, and publishes
// again once the tags encode.
func TestTagsKeepLastGoodOnEncodeError(t *testing.T) {
	var logs logBuffer
	bad := &switchCheck{name: "plugin-a,b"}
	a := &Agent{
		opts:      Options{Version: "test"},
		log:       logs.Logger(),
		node:      plan.Node{Name: "tags.test.local", Roles: cluster.Roles{cluster.RoleCore}},
		plan:      plan.Plan{Checks: []checks.Check{bad}},
		metrics:   newAgentMetrics("test"),
		tagsDirty: make(chan struct{}, 1),
	}
	a.sched = schedule.New(a.plan.Checks, schedule.Options{Logger: a.log})
	m, err := mesh.New(mesh.Config{NodeName: a.node.Name, BindAddr: testNet + "13", Dev: true, Logger: a.log, Tags: a.initialTags()})
	if err != nil {
		t.Fatal(err)
	}
	a.mesh = m
	defer m.Shutdown()

	published := func() clusterchecks.Tags {
		t.Helper()
		tags, err := clusterchecks.DecodeTags(a.mesh.LocalMember().Tags)
		if err != nil {
			t.Fatal(err)
		}
		return tags
	}
	stale := func() float64 { return a.metrics.tagsStale.With().Value() }

	a.sched.RunNow(context.Background()) // ok
	a.refreshTags()
	good := a.mesh.LocalMember().Tags
	if tg := published(); tg.Health.Worst != checks.OK || len(tg.Roles) != 1 || stale() != 0 {
		t.Fatalf("healthy node publishes %+v (stale %v)", tg, stale())
	}

	bad.status.Store(int32(checks.Crit))
	a.sched.RunNow(context.Background())
	a.refreshTags()
	a.refreshTags() // a second failure logs nothing new
	if got := a.mesh.LocalMember().Tags; !maps.Equal(got, good) {
		t.Errorf("unencodable tags replaced the good ones: %v, want %v", got, good)
	}
	if stale() != 1 {
		t.Errorf("kuma_agent_gossip_tags_stale = %v, want 1", stale())
	}
	if n := strings.Count(logs.String(), "gossip tags not updated"); n != 1 {
		t.Errorf("%d log records of the stale tags, want 1:\n%s", n, logs.String())
	}

	bad.status.Store(int32(checks.OK))
	a.sched.RunNow(context.Background())
	a.refreshTags()
	if stale() != 0 || !logs.Contains("gossip tags published again") {
		t.Errorf("after recovery: stale %v, logs:\n%s", stale(), logs.String())
	}
	if tg := published(); tg.Health.Worst != checks.OK || tg.Generation <= 1 {
		t.Errorf("recovered node publishes %+v", tg)
	}
}
