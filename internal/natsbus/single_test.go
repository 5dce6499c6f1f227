package natsbus

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/nats-io/nats.go/jetstream"
)

func TestPublishReadInOrder(t *testing.T) {
	s := startTestServer(t, ServerOptions{Name: "n1"})
	_, js := connectTest(t, s.ClientURL())
	ctx := ctxT(t, 60*time.Second)
	if _, err := EnsureStream(ctx, js, StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	const n = 1000
	sent := make([]events.Event, n)
	now := time.Now()
	for i := range sent {
		sent[i] = testEvent(t, "prod", "core-1.example.com", events.CheckStatusChanged, i, now)
		if err := Publish(ctx, js, sent[i]); err != nil {
			t.Fatal(err)
		}
	}
	got := readAll(t, js, DefaultStreamName, Query{})
	if len(got) != n {
		t.Fatalf("read %d events, want %d", len(got), n)
	}
	for i := range got {
		if got[i].ID != sent[i].ID || string(got[i].Data) != string(sent[i].Data) {
			t.Fatalf("event %d: got %s %s, want %s %s", i, got[i].ID, got[i].Data, sent[i].ID, sent[i].Data)
		}
	}
}

func TestPublishDeduplicates(t *testing.T) {
	s := startTestServer(t, ServerOptions{Name: "n1"})
	_, js := connectTest(t, s.ClientURL())
	ctx := ctxT(t, 30*time.Second)
	st, err := EnsureStream(ctx, js, StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := testEvent(t, "prod", "core-1", events.MemberFailed, 1, time.Now())
	other := testEvent(t, "prod", "core-1", events.MemberFailed, 2, time.Now())
	for _, ev := range []events.Event{e, e, other, e} {
		if err := Publish(ctx, js, ev); err != nil {
			t.Fatal(err)
		}
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Fatalf("stream holds %d messages, want 2 (duplicates dropped)", info.State.Msgs)
	}
}

func TestPublishRejectsInvalidEvent(t *testing.T) {
	s := startTestServer(t, ServerOptions{Name: "n1"})
	_, js := connectTest(t, s.ClientURL())
	err := Publish(ctxT(t, 10*time.Second), js, events.Event{ID: "x"})
	if !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("Publish(invalid) = %v, want ErrInvalidEvent", err)
	}
}

func TestEnsureStreamUpdates(t *testing.T) {
	s := startTestServer(t, ServerOptions{Name: "n1"})
	_, js := connectTest(t, s.ClientURL())
	ctx := ctxT(t, 30*time.Second)
	if _, err := EnsureStream(ctx, js, StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := EnsureStream(ctx, js, StreamOptions{MaxAge: time.Hour, MaxBytes: -1, DuplicateWindow: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	if cfg.MaxAge != time.Hour || cfg.MaxBytes != -1 || cfg.Duplicates != time.Minute ||
		cfg.Storage != jetstream.FileStorage || cfg.Subjects[0] != "kuma.>" {
		t.Fatalf("updated config = %+v", cfg)
	}
}

func TestReplicasFor(t *testing.T) {
	for servers, want := range map[int]int{0: 1, 1: 1, 2: 2, 3: 3, 5: 3, 9: 3} {
		if got := ReplicasFor(servers); got != want {
			t.Errorf("ReplicasFor(%d) = %d, want %d", servers, got, want)
		}
	}
}

func TestClientAuthRequired(t *testing.T) {
	s := startTestServer(t, ServerOptions{Name: "n1", Users: nodeUsers("n1")})
	_, err := Connect(ctxT(t, 2*time.Second), ClientOptions{URL: s.ClientURL(), Logger: quietLog})
	if err == nil {
		t.Fatal("Connect without credentials succeeded")
	}
	agent := testID("n1", RoleAgent)
	if _, err := Connect(ctxT(t, 2*time.Second), ClientOptions{URL: s.ClientURL(), User: agent.User, Password: "wrong", Logger: quietLog}); err == nil {
		t.Fatal("Connect with a wrong password succeeded")
	}
	nc, err := Connect(ctxT(t, 10*time.Second), ClientOptions{URL: s.ClientURL(), User: agent.User, Password: agent.Password, Logger: quietLog})
	if err != nil {
		t.Fatalf("Connect with credentials: %v", err)
	}
	nc.Close()
}

func TestServerOptionsRefuseUnsafe(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct {
		o    ServerOptions
		want string
	}{
		"no store dir":           {ServerOptions{Port: -1}, "store_dir"},
		"no users":               {ServerOptions{Port: -1, StoreDir: dir}, "every client must authenticate"},
		"public port, no users":  {ServerOptions{Host: "0.0.0.0", Port: -1, StoreDir: dir}, "every client must authenticate"},
		"user without password":  {ServerOptions{Port: -1, StoreDir: dir, Users: []User{{Identity: Identity{User: "u"}}}}, "password are required"},
		"user twice":             {ServerOptions{Port: -1, StoreDir: dir, Users: []User{{Identity: testAdmin}, {Identity: testAdmin}}}, "given twice"},
		"cluster without routes": {ServerOptions{Port: -1, ClusterPort: -1, StoreDir: dir, RouteUser: "r", RoutePassword: "p"}, "needs routes"},
		"cluster without route auth": {ServerOptions{Port: -1, ClusterPort: -1, StoreDir: dir, Routes: []string{"nats-route://127.0.0.1:1"}},
			"route user and password"},
		"routes without cluster": {ServerOptions{Port: -1, StoreDir: dir, Routes: []string{"nats-route://127.0.0.1:1"}}, "cluster port is 0"},
		"bad route scheme": {ServerOptions{Port: -1, ClusterPort: -1, StoreDir: dir, RouteUser: "r", RoutePassword: "p",
			Routes: []string{"http://127.0.0.1:1"}}, "routes[0]"},
	} {
		if c.want != "every client must authenticate" && c.o.Users == nil {
			c.o.Users = []User{{Identity: testAdmin}}
		}
		s, err := StartServer(c.o)
		if err == nil {
			s.Shutdown()
			t.Errorf("%s: StartServer succeeded", name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", name, err, c.want)
		}
	}
}

// TestEventsStreamRefusesPurge: EnsureStream turns a stream made before
// (without the flags) into one the server itself refuses to purge or
// delete messages from, even for an unrestricted user.
func TestEventsStreamRefusesPurge(t *testing.T) {
	s := startTestServer(t, ServerOptions{Name: "n1"})
	_, js := connectTest(t, s.ClientURL())
	ctx := ctxT(t, 30*time.Second)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: DefaultStreamName, Subjects: DefaultSubjects}); err != nil {
		t.Fatal(err)
	}
	st, err := EnsureStream(ctx, js, StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg := st.CachedInfo().Config; !cfg.DenyPurge || !cfg.DenyDelete {
		t.Fatalf("deny purge %v, deny delete %v; want both", cfg.DenyPurge, cfg.DenyDelete)
	}
	if err := Publish(ctx, js, testEvent(t, testCluster, "core-1", events.AgentStarted, 1, time.Now())); err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(ctx); err == nil {
		t.Fatal("the stream was purged")
	}
	if err := st.DeleteMsg(ctx, 1); err == nil {
		t.Fatal("an event was deleted")
	}
	if got := readAll(t, js, DefaultStreamName, Query{}); len(got) != 1 {
		t.Fatalf("%d events left, want 1", len(got))
	}
}
