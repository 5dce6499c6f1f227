package mesh

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// nextLoopback hands out distinct 127.0.0.x addresses so agents in one test
// process look like different hosts.
var nextLoopback atomic.Uint32

func loopbackAddr() string {
	return fmt.Sprintf("127.0.0.%d", 10+nextLoopback.Add(1)%240)
}

func testLogger() *slog.Logger {
	if os.Getenv("KUMA_MESH_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func testKey(t testing.TB) []byte {
	t.Helper()
	s, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := DecodeKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// recordingSink keeps every member event for assertions.
type recordingSink struct {
	mu     sync.Mutex
	events []MemberEvent
}

func (r *recordingSink) HandleMemberEvent(e MemberEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// find returns the first event of type typ about member name.
func (r *recordingSink) find(typ, name string) (MemberEvent, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Type != typ {
			continue
		}
		for _, m := range e.Members {
			if m.Name == name {
				return e, true
			}
		}
	}
	return MemberEvent{}, false
}

// agent is one in-process test agent.
type agent struct {
	*Mesh
	cfg  Config
	sink *recordingSink
}

func (a *agent) addr() string {
	l := a.LocalMember()
	return net.JoinHostPort(l.Addr, strconv.Itoa(int(l.Port)))
}

// startAgent starts an agent on a fresh loopback address and port 0 unless
// cfg sets them; cfg.NodeName must be set.
func startAgent(t testing.TB, cfg Config) *agent {
	t.Helper()
	if cfg.BindAddr == "" {
		cfg.BindAddr = loopbackAddr()
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	sink := &recordingSink{}
	if cfg.EventSink == nil {
		cfg.EventSink = sink
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.NodeName, err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	// Remember the kernel-chosen port so a restart reuses the address:
	// memberlist rejects a known failed node coming back on another port.
	cfg.BindPort = int(m.LocalMember().Port)
	return &agent{Mesh: m, cfg: cfg, sink: sink}
}

// startCluster starts n agents sharing key and joins them to the first.
func startCluster(t testing.TB, n int, base Config) []*agent {
	t.Helper()
	agents := make([]*agent, 0, n)
	for i := range n {
		cfg := base
		cfg.NodeName = fmt.Sprintf("node-%d", i)
		if base.SnapshotPath != "" {
			cfg.SnapshotPath = fmt.Sprintf("%s.%d", base.SnapshotPath, i)
		}
		agents = append(agents, startAgent(t, cfg))
	}
	for _, a := range agents[1:] {
		if _, err := a.Join([]string{agents[0].addr()}); err != nil {
			t.Fatalf("%s join: %v", a.cfg.NodeName, err)
		}
	}
	for _, a := range agents {
		waitStatus(t, a, agents, "alive")
	}
	return agents
}

// eventually polls cond until it holds or a generous deadline passes. The
// deadline is a liveness bound, not a timing assertion.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func memberStatus(m *Mesh, name string) string {
	members := m.Members()
	i := slices.IndexFunc(members, func(x Member) bool { return x.Name == name })
	if i < 0 {
		return ""
	}
	return members[i].Status
}

// waitStatus waits until observer sees every agent in subjects with status.
func waitStatus(t testing.TB, observer *agent, subjects []*agent, status string) {
	t.Helper()
	for _, s := range subjects {
		eventually(t, fmt.Sprintf("%s to see %s %s", observer.cfg.NodeName, s.cfg.NodeName, status), func() bool {
			return memberStatus(observer.Mesh, s.cfg.NodeName) == status
		})
	}
}
