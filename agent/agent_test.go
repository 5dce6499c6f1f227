package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/exepages"
	"github.com/kuma-agent/kuma-agent/internal/inventory"
	"github.com/kuma-agent/kuma-agent/internal/natsbus"
	"github.com/kuma-agent/kuma-agent/internal/testlab/ntpserver"
	"github.com/kuma-agent/kuma-agent/internal/testlab/sandbox"
	"github.com/nats-io/nats.go/jetstream"
)

// A 3-Core Raft cluster on loopback addresses of its own: the subnet comes
// from the process id, so two test runs at once (a developer's and CI's, or
// -count with -p) never bind the same addresses.
var testNet = fmt.Sprintf("127.%d.%d.", 100+os.Getpid()%100, os.Getpid()/100%250)

var testInventory = fmt.Sprintf(`kuma:
  children:
    kuma_core:
      hosts:
        core-1.test.local:
          ip: %[1]s1
    kuma_core_peers:
      hosts:
        core-2.test.local:
          ip: %[1]s2
        core-3.test.local:
          ip: %[1]s3
`, testNet)

type testNode struct {
	cfg    config.Config
	cancel context.CancelFunc
	done   chan error
	agent  *Agent
}

type testCluster struct {
	dir   string
	c     *cluster.Cluster
	nodes map[string]*testNode
	ntp   *ntpserver.Server
}

// startCluster writes a sandbox for every host of the test inventory and
// starts an agent for each in this process. tweak may change a node's
// config or options first.
func startCluster(t *testing.T, tweak func(name string, cfg *config.Config, o *Options)) *testCluster {
	t.Helper()
	return startClusterFrom(t, testInventory, tweak)
}

// startClusterFrom is startCluster with another inventory.
func startClusterFrom(t *testing.T, invYAML string, tweak func(name string, cfg *config.Config, o *Options)) *testCluster {
	t.Helper()
	return startClusterWith(t, invYAML, nil, tweak)
}

// startClusterWith is startClusterFrom with faults injected per host
// (sandbox.Fault: services down, hosts files wrong, cloned machine-ids).
func startClusterWith(t *testing.T, invYAML string, faults map[string]sandbox.Fault, tweak func(name string, cfg *config.Config, o *Options)) *testCluster {
	t.Helper()
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.yml")
	if err := os.WriteFile(inv, []byte(invYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := inventory.Load(inv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sandbox.WriteKeyring(dir); err != nil {
		t.Fatal(err)
	}
	srv, err := ntpserver.Listen("127.0.0.1:0", time.Millisecond, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	svc, err := sandbox.StartServices(c, func(h *cluster.Host) bool { return faults[h.Name].ServicesDown })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	tc := &testCluster{dir: dir, c: c, nodes: map[string]*testNode{}, ntp: srv}
	for _, h := range c.Hosts {
		cfg, err := sandbox.WriteNode(dir, inv, c, h, faults[h.Name])
		if err != nil {
			t.Fatal(err)
		}
		cfg.Checks.NTP.Servers = []string{srv.Addr()}
		cfg.Checks.Disk.MinFree = 1
		cfg.Checks.Interval = time.Second
		// Loopback never filters: a connect without an answer in 500 ms is
		// a test machine too busy to schedule the prober (seen with both
		// cores burnt), not a closed path.
		cfg.Checks.Ports.Timeout = 3 * time.Second
		// Likewise a query's gossip and its answers: with both cores burnt
		// an answer took longer than the default 1 s (a node reported
		// silent). doctor --cluster returns once every live node answered,
		// so a longer bound costs nothing when the machine is idle.
		cfg.Mesh.QueryTimeout = 5 * time.Second
		// The agents share this test process: none gives back its pages
		// unless a test asks (exepages_test.go; the real release:
		// internal/exepages).
		cfg.Agent.ReleaseExePagesEvery = 0
		o := quietOptions()
		if tweak != nil {
			tweak(h.Name, &cfg, &o)
		}
		tc.start(t, h.Name, cfg, o)
	}
	return tc
}

func quietOptions() Options {
	return Options{Version: "test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func (tc *testCluster) start(t *testing.T, name string, cfg config.Config, o Options) {
	t.Helper()
	o.Config = cfg
	a, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &testNode{cfg: cfg, cancel: cancel, done: make(chan error, 1), agent: a}
	go func() { n.done <- a.Run(ctx) }()
	t.Cleanup(func() { n.stop(t) })
	select {
	case <-a.Ready():
	case err := <-n.done:
		t.Fatalf("agent %s stopped while starting: %v", name, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("agent %s not ready within 30s", name)
	}
	tc.nodes[name] = n
}

func (n *testNode) stop(t *testing.T) {
	n.cancel()
	select {
	case err := <-n.done:
		if err != nil {
			t.Errorf("agent stopped with %v", err)
		}
		n.done <- nil // later stops return at once
	case <-time.After(15 * time.Second):
		t.Error("agent did not stop within 15s")
	}
}

func (n *testNode) call(t *testing.T, op string, out any) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return control.Call(ctx, n.cfg.Agent.ControlSocket, op, nil, out)
}

// freshDoctor asks n for a cluster evaluation made now (doctor --cluster
// --fresh): these tests are about gathering and judging, not about the
// continuous evaluation's damping.
func (n *testNode) freshDoctor(t *testing.T, out *control.ClusterReport) error {
	t.Helper()
	// A fresh round may ask a query twice (mesh.query_timeout 5 s here),
	// and shares the query handlers with the cluster evaluator's rounds.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return control.Call(ctx, n.cfg.Agent.ControlSocket, control.OpClusterDoctor, control.ClusterDoctorArgs{Fresh: true}, out)
}

func eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", within, what)
}

// waitAlive waits until n sees want alive members.
func (n *testNode) waitAlive(t *testing.T, want int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d alive members", want), 20*time.Second, func() bool {
		alive := 0
		for _, m := range n.members(t) {
			if m.Status == "alive" {
				alive++
			}
		}
		return alive == want
	})
}

// jetStream connects to n's embedded NATS server.
// jetStream connects to the node's embedded server as `kuma-agent events`
// does: the node's reader identity.
func (n *testNode) jetStream(t *testing.T, ctx context.Context) jetstream.JetStream {
	t.Helper()
	o, err := natsbus.ClientOptionsFor(n.cfg, "test reader", nil)
	if err != nil {
		t.Fatal(err)
	}
	return clientJS(t, ctx, o)
}

// agentJS connects to the node's embedded server as its agent does.
func (n *testNode) agentJS(t *testing.T, ctx context.Context) jetstream.JetStream {
	t.Helper()
	o, err := n.agent.bus.clientOptions("nats://" + net.JoinHostPort(n.cfg.Events.Embedded.Host, strconv.Itoa(n.cfg.Events.Embedded.Port)))
	if err != nil {
		t.Fatal(err)
	}
	return clientJS(t, ctx, o)
}

func (n *testNode) members(t *testing.T) map[string]control.MemberInfo {
	var ms []control.MemberInfo
	if err := n.call(t, control.OpMembers, &ms); err != nil {
		if errors.Is(err, control.ErrNoAgent) {
			return nil
		}
		t.Fatal(err)
	}
	out := map[string]control.MemberInfo{}
	for _, m := range ms {
		out[m.Name] = m
	}
	return out
}

func TestAgentsFormMeshAndReport(t *testing.T) {
	released := make(chan struct{})
	tc := startCluster(t, func(name string, cfg *config.Config, o *Options) {
		if name == "core-1.test.local" {
			// One release of 4 KiB, at once; the next an hour later (the
			// real one: internal/exepages).
			cfg.Agent.ReleaseExePagesEvery = time.Hour
			o.exePagesFirst = time.Millisecond
			o.exePages = func() (exepages.Result, error) {
				close(released)
				return exepages.Result{Regions: 2, ReleasedKiB: 4}, nil
			}
		}
	})
	n1 := tc.nodes["core-1.test.local"]
	var last map[string]control.MemberInfo
	defer func() {
		if t.Failed() {
			t.Logf("last members: %+v", last)
		}
	}()
	eventually(t, "3 alive members with health tags", 20*time.Second, func() bool {
		ms := n1.members(t)
		last = ms
		alive := 0
		for _, m := range ms {
			if m.Status == "alive" && m.Health == "ok" && slices.Contains(m.Roles, "core-peer") == (m.Name != "core-1.test.local") {
				alive++
			}
		}
		return alive == 3
	})

	var rep control.ClusterReport
	if err := n1.freshDoctor(t, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Nodes) != 3 || len(rep.Unanswered) != 0 {
		t.Fatalf("cluster doctor: %d nodes, unanswered %v", len(rep.Nodes), rep.Unanswered)
	}
	for _, c := range rep.Cluster {
		if c.Result.Status != checks.OK {
			t.Errorf("healthy cluster: %s is %v: %s %v", c.Name, c.Result.Status, c.Result.Message, c.Result.Details)
		}
	}
	if rep.Status != checks.OK {
		t.Errorf("status %v", rep.Status)
	}

	// /healthz and /metrics on the node's own address. The GC percent
	// gauge reads the runtime at scrape time: a value no default has.
	select {
	case <-released:
	case <-time.After(20 * time.Second):
		t.Fatal("core-1 never gave back its executable's pages")
	}
	prevGC := debug.SetGCPercent(73)
	defer debug.SetGCPercent(prevGC)
	resp, err := http.Get("http://" + n1.cfg.Agent.HTTPAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`kuma_agent_members{status="alive"} 3`, `kuma_agent_check_status{check="ntp"} 0`, `kuma_agent_build_info{version="test"} 1`, `kuma_agent_outbox_pending_events `, fmt.Sprintf("kuma_agent_go_maxprocs %d\n", runtime.GOMAXPROCS(0)), "kuma_agent_go_gc_percent 73\n", "kuma_agent_exe_pages_released_bytes_total 4096\n"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	resp, err = http.Get("http://" + n1.cfg.Agent.HTTPAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz %d", resp.StatusCode)
	}
}

func TestClusterDoctorFindsDuplicateIDsSkewAndDeadNodes(t *testing.T) {
	tc := startCluster(t, func(name string, cfg *config.Config, o *Options) {
		switch name {
		case "core-3.test.local":
			// A clone of core-1: same machine-id.
			cfg.Paths.MachineIDFiles = []string{filepath.Join(filepath.Dir(cfg.Paths.MachineIDFiles[0]), "..", "core-1.test.local", "machine-id")}
		case "core-2.test.local":
			o.ClockOffset = 3 * time.Second
		}
	})
	n1 := tc.nodes["core-1.test.local"]
	n1.waitAlive(t, 3)
	var rep control.ClusterReport
	if err := n1.freshDoctor(t, &rep); err != nil {
		t.Fatal(err)
	}
	res := map[string]checks.Result{}
	for _, c := range rep.Cluster {
		res[c.Name] = c.Result
	}
	if r := res["cluster-machine-id"]; r.Status != checks.Crit || !strings.Contains(r.Message, "core-1.test.local") || !strings.Contains(r.Message, "core-3.test.local") {
		t.Errorf("machine-id: %v %q", r.Status, r.Message)
	}
	if r := res["cluster-clock"]; r.Status != checks.Crit || !strings.Contains(r.Message+strings.Join(r.Details, " "), "core-2.test.local") {
		t.Errorf("clock: %v %q %v", r.Status, r.Message, r.Details)
	}

	// core-3's agent dies (no leave): the others mark it failed, the quorum
	// check says the margin is gone, and doctor names the silent node.
	tc.nodes["core-3.test.local"].stop(t)
	eventually(t, "core-3 failed", 20*time.Second, func() bool {
		return n1.members(t)["core-3.test.local"].Status == "failed"
	})
	if err := n1.freshDoctor(t, &rep); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Unanswered, []string{"core-3.test.local"}) {
		t.Errorf("unanswered %v", rep.Unanswered)
	}
	res = map[string]checks.Result{}
	for _, c := range rep.Cluster {
		res[c.Name] = c.Result
	}
	if r := res["cluster-quorum"]; r.Status != checks.Warn {
		t.Errorf("quorum with 2 of 3: %v %q %v", r.Status, r.Message, r.Details)
	}
	if r := res["cluster-members"]; r.Status != checks.Crit || !strings.Contains(r.Message+strings.Join(r.Details, " "), "core-3.test.local") {
		t.Errorf("members: %v %q", r.Status, r.Message)
	}
}

func TestRestartRejoinsFromSnapshotAndLeaveIsFinal(t *testing.T) {
	tc := startCluster(t, nil)
	n1 := tc.nodes["core-1.test.local"]
	n3 := tc.nodes["core-3.test.local"]
	n1.waitAlive(t, 3)
	n3.stop(t)
	eventually(t, "core-3 failed", 20*time.Second, func() bool {
		return n1.members(t)["core-3.test.local"].Status == "failed"
	})
	// Restart core-3 with nobody to join: only its snapshot can bring it back.
	cfg := n3.cfg
	cfg.Mesh.RetryJoin = []string{testNet + "3:1"}
	tc.start(t, "core-3.test.local", cfg, Options{Version: "test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	eventually(t, "core-3 alive again", 20*time.Second, func() bool {
		return n1.members(t)["core-3.test.local"].Status == "alive"
	})

	n2 := tc.nodes["core-2.test.local"]
	if err := n2.call(t, control.OpLeave, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "core-2 left", 20*time.Second, func() bool {
		return n1.members(t)["core-2.test.local"].Status == "left"
	})
}

func TestWrongKeyNeverJoins(t *testing.T) {
	tc := startCluster(t, func(name string, cfg *config.Config, o *Options) {
		if name == "core-3.test.local" {
			other := filepath.Join(filepath.Dir(cfg.Agent.ControlSocket), "other.keyring")
			k, _ := sandbox.WriteKeyring(filepath.Dir(other))
			cfg.Mesh.KeyringFile = k
		}
	})
	n1 := tc.nodes["core-1.test.local"]
	n3 := tc.nodes["core-3.test.local"]
	eventually(t, "core-1 and core-2 meet", 20*time.Second, func() bool {
		return n1.members(t)["core-2.test.local"].Status == "alive"
	})
	// Give core-3 several retry rounds; it must stay alone.
	time.Sleep(3 * time.Second)
	if _, ok := n1.members(t)["core-3.test.local"]; ok {
		t.Error("a node with the wrong key joined")
	}
	if ms := n3.members(t); len(ms) != 1 {
		t.Errorf("the wrong-key node sees %d members", len(ms))
	}
}

func TestEncryptionRequiredOutsideDev(t *testing.T) {
	cfg := config.Default()
	cfg.NodeName = "solo.test.local"
	cfg.Inventory = ""
	cfg.StateDir = t.TempDir()
	cfg.Mesh.KeyringFile = filepath.Join(t.TempDir(), "missing.keyring")
	cfg.Mesh.BindAddr = testNet + "9"
	a, err := New(context.Background(), Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	err = a.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "gossip encryption is required") || !strings.Contains(err.Error(), "kuma-agent keygen") {
		t.Fatalf("got %v", err)
	}
}

func TestDevModeRunsAloneWithoutKey(t *testing.T) {
	cfg := config.Default()
	cfg.NodeName = "dev.test.local"
	cfg.Inventory = ""
	cfg.Agent.ControlSocket = filepath.Join(t.TempDir(), "c.sock")
	cfg.Agent.HTTPAddr = ""
	cfg.Mesh.BindAddr = testNet + "10"
	cfg.Mesh.KeyringFile = filepath.Join(t.TempDir(), "absent.keyring")
	a, err := New(context.Background(), Options{Config: cfg, Dev: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	n := &testNode{cfg: cfg}
	eventually(t, "the dev agent answers", 10*time.Second, func() bool {
		return n.members(t)["dev.test.local"].Status == "alive"
	})
	state := a.cfg.StateDir
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("dev state dir: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("dev state dir %s left behind", state)
	}
}
