package lease

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// startServer runs an embedded single JetStream server on loopback.
func startServer(t testing.TB) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
	})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		ns.Shutdown()
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// connect opens a client connection and its JetStream context.
func connect(t testing.TB, url string, opts ...nats.Option) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return js
}

// clock is a manual clock shared by the managers of a test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// mesh is a fake Liveness: nodes are alive unless marked failed.
type mesh struct {
	mu     sync.Mutex
	failed map[string]bool
}

func (m *mesh) Failed(node string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.failed[node]
}

func (m *mesh) fail(node string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failed == nil {
		m.failed = map[string]bool{}
	}
	m.failed[node] = true
}

func (m *mesh) recover(node string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.failed, node)
}

// event is one OnEvent call.
type event struct {
	Type events.Type
	Data events.LeaseData
}

// recorder collects the events of all managers of a test in call order.
type recorder struct {
	mu  sync.Mutex
	got []event
}

func (r *recorder) on(t events.Type, d events.LeaseData) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, event{t, d})
}

func (r *recorder) events() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.got...)
}

func (r *recorder) types() []events.Type {
	var ts []events.Type
	for _, e := range r.events() {
		ts = append(ts, e.Type)
	}
	return ts
}

// env is a single-server test setup with a shared clock, mesh and recorder.
type env struct {
	url   string
	clock *clock
	mesh  *mesh
	rec   *recorder
}

func newEnv(t testing.TB) *env {
	return &env{url: startServer(t).ClientURL(), clock: newClock(), mesh: &mesh{}, rec: &recorder{}}
}

// manager opens a connection of its own for node, as a separate agent would.
func (e *env) manager(t testing.TB, node string, mod ...func(*Options)) *Manager {
	t.Helper()
	o := Options{Node: node, TTL: 15 * time.Second, Liveness: e.mesh, OnEvent: e.rec.on, Now: e.clock.Now}
	for _, f := range mod {
		f(&o)
	}
	m, err := New(context.Background(), connect(t, e.url), o)
	if err != nil {
		t.Fatalf("New(%s): %v", node, err)
	}
	return m
}
