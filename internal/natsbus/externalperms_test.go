package natsbus

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/lease"
)

// readmePermissionsBlock is the nats-server configuration the README gives
// for an external NATS, between its markers.
func readmePermissionsBlock(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- external-nats-permissions -->")
	block, _, ok2 := strings.Cut(rest, "<!-- /external-nats-permissions -->")
	if !ok || !ok2 {
		t.Fatal("README.md: no external-nats-permissions block")
	}
	block = strings.TrimSpace(block)
	block = strings.TrimPrefix(block, "```")
	return strings.TrimSuffix(block, "```")
}

// TestExternalNATSPermissionsBlock: the README's permissions for an
// external NATS are the agent's and the reader's (PermissionsFor) for its
// example node, and on a nats-server configured with them, that user does
// all the agent, `events` and `alerts` do, and is refused another node's
// events and a purge.
func TestExternalNATSPermissionsBlock(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(conf, []byte("listen: \"127.0.0.1:-1\"\njetstream { store_dir: \""+filepath.Join(dir, "js")+"\" }\n"+
		readmePermissionsBlock(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("the README's block: %v", err)
	}
	if len(opts.Users) != 1 || opts.Users[0].Permissions == nil {
		t.Fatalf("the README's block: users %+v", opts.Users)
	}
	scope := Scope{Cluster: "kuma", Node: "core-1.example.com"}
	want := PermissionsFor(RoleLeaf, scope).Publish // the agent's and the reader's
	got := opts.Users[0].Permissions.Publish.Allow
	want, got = slices.Sorted(slices.Values(want)), slices.Sorted(slices.Values(got))
	if !slices.Equal(got, want) {
		t.Fatalf("the README's publish allow list\n%q\nis not the agent's and the reader's\n%q", got, want)
	}
	opts.NoSigs, opts.NoLog = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("not ready")
	}
	user := opts.Users[0]
	c := clientAs(t, ns.ClientURL(), Identity{User: user.Username, Password: user.Password})
	ctx := ctxT(t, 60*time.Second)
	if _, err := EnsureStream(ctx, c.js, StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	m, err := lease.New(ctx, c.js, lease.Options{Node: scope.Node, Liveness: noMesh{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Acquire(ctx, "heal"); err != nil {
		t.Fatal(err)
	}
	d := startDurable(t, c.js, Durable{Name: "kuma-alerts-core-1"}, func(_ events.Event, s Settle) { s(true) })
	eventually(t, 10*time.Second, "the durable consumer", func() bool {
		_, err := c.js.Consumer(ctx, DefaultStreamName, "kuma-alerts-core-1")
		return err == nil
	})
	own := testEvent(t, scope.Cluster, scope.Node, events.MemberFailed, 1, time.Now())
	if err := Publish(ctx, c.js, own); err != nil {
		t.Fatal(err)
	}
	if e := d.next(t); e.ID != own.ID {
		t.Fatalf("durable delivered %s, want %s", e.ID, own.ID)
	}
	if got := readAll(t, c.js, DefaultStreamName, Query{}); len(got) != 1 || got[0].ID != own.ID {
		t.Fatalf("read %v", ids(got))
	}
	c.deny(t, "publishing as another node", func(ctx context.Context) error {
		return Publish(ctx, c.js, testEvent(t, scope.Cluster, "core-2.example.com", events.MemberFailed, 2, time.Now()))
	})
	c.deny(t, "purging the stream", func(ctx context.Context) error { return purge(ctx, c.js, DefaultStreamName) })
}
