package natsbus

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/testlab"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// quietLog drops everything; tests that assert logs use logBuffer.
var quietLog = slog.New(slog.DiscardHandler)

// serverTestLog shows servers' logs when KUMA_NATS_TEST_LOG=1, for debugging.
func serverTestLog() *slog.Logger {
	if os.Getenv("KUMA_NATS_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

// logBuffer is a concurrency-safe slog sink tests can search.
type logBuffer struct{ testlab.SyncBuffer }

func (b *logBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// The tests' cluster secret and events cluster, from which the nodes'
// identities are derived as the agents derive them.
const testSecret, testCluster = "cluster-secret", "prod"

// testAdmin may do anything: the tests' own user, for setting up and
// looking at what no role may (it stands in for the stand-in external
// servers' unrestricted users too).
var testAdmin = Identity{User: "test-admin", Password: "admin-secret"}

func testKey(node string) []byte          { return NodeKey([]byte(testSecret), node) }
func testScope(node string) Scope         { return Scope{Cluster: testCluster, Node: node} }
func testID(node string, r Role) Identity { return IdentityOf(testKey(node), node, r) }

// nodeUsers are node's agent and reader, as the agent's server has them.
func nodeUsers(node string) []User { return NodeUsers(testKey(node), testScope(node)) }

// leafUsers are the leaf users a hub has for nodes.
func leafUsers(nodes ...string) []User {
	var us []User
	for _, n := range nodes {
		us = append(us, LeafUser(testKey(n), testScope(n)))
	}
	return us
}

// startTestServer starts a server with o, its Users and testAdmin.
func startTestServer(t testing.TB, o ServerOptions) *Server {
	t.Helper()
	o.Users = append([]User{{Identity: testAdmin}}, o.Users...)
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = -1
	}
	if o.StoreDir == "" {
		o.StoreDir = t.TempDir()
	}
	s, err := StartServer(o)
	if err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// connectTest connects to url as testAdmin.
func connectTest(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	return connectAs(t, url, testAdmin)
}

// connectAs connects to url as id.
func connectAs(t testing.TB, url string, id Identity) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := Connect(ctx, ClientOptions{URL: url, Name: t.Name(), Logger: quietLog,
		User: id.User, Password: id.Password, InboxPrefix: id.InboxPrefix})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}
	return nc, js
}

func testEvent(t testing.TB, cluster, node string, typ events.Type, i int, now time.Time) events.Event {
	t.Helper()
	e, err := events.New(cluster, node, typ, fmt.Sprintf("check-%d", i), events.SeverityInfo,
		events.CheckData{Check: fmt.Sprintf("check-%d", i), From: "ok", To: "warning", Message: fmt.Sprint(i)}, now)
	if err != nil {
		t.Fatalf("events.New: %v", err)
	}
	return e
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// readAll reads q without Follow and returns what Read delivered.
func readAll(t testing.TB, js jetstream.JetStream, stream string, q Query) []events.Event {
	t.Helper()
	var got []events.Event
	if q.Logger == nil {
		q.Logger = quietLog
	}
	if err := Read(ctxT(t, 30*time.Second), js, stream, q, func(e events.Event) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatalf("Read: %v", err)
	}
	return got
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freePort finds a loopback port nobody listens on; servers that must know
// each other's ports before starting need them up front.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
