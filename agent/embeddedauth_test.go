package agent

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/natsbus"
)

// TestEmbeddedServerCredentials: a node alone (no route password) makes a
// random node key on its first start and keeps it; the agent writes the
// reader's credentials 0600 (root's when run as root); a client without
// them is refused, `events` with them reads, and the agent's own identity
// publishes. Started again, the node has the same identities, so a running
// `alerts` reconnects.
func TestEmbeddedServerCredentials(t *testing.T) {
	cfg := config.Default()
	cfg.StateDir = t.TempDir()
	cfg.Events.Embedded.Port = freeTCPPort(t)
	cfg.Events.Embedded.RoutePasswordFile = filepath.Join(t.TempDir(), "absent")
	start := func() nodeServer {
		t.Helper()
		b := &eventBus{cfg: cfg, node: "core-1.test.local", cluster: &cluster.Cluster{}, log: slog.New(slog.DiscardHandler)}
		srv, _, err := b.startEmbedded()
		if err != nil {
			t.Fatal(err)
		}
		return nodeServer{srv, b}
	}
	n := start()
	reader := filepath.Join(cfg.StateDir, natsbus.ReaderIdentityFile)
	for _, f := range []string{reader, filepath.Join(cfg.StateDir, natsbus.NodeKeyFile)} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm() != 0o600 || int(st.Uid) != os.Geteuid() {
			t.Fatalf("%s: mode %v, uid %d; want 0600 and %d", f, fi.Mode().Perm(), st.Uid, os.Geteuid())
		}
	}
	first, err := os.ReadFile(reader)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	short, scancel := context.WithTimeout(ctx, 2*time.Second)
	if _, err := natsbus.Connect(short, natsbus.ClientOptions{URL: n.ClientURL()}); err == nil {
		t.Fatal("a client without credentials connected")
	}
	scancel()
	agent := n.agentJS(t, ctx)
	if _, err := natsbus.EnsureStream(ctx, agent, natsbus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	e, _ := events.New(cfg.Events.Cluster, "core-1.test.local", events.AgentStarted, "agent", events.SeverityInfo, events.AgentData{Version: "t"}, time.Now())
	if err := natsbus.Publish(ctx, agent, e); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := natsbus.Read(ctx, n.readerJS(t, ctx), natsbus.DefaultStreamName, natsbus.Query{}, func(r events.Event) error {
		got = append(got, r.ID)
		return nil
	}); err != nil || len(got) != 1 || got[0] != e.ID {
		t.Fatalf("read %v, %v; want [%s]", got, err, e.ID)
	}
	n.Shutdown()

	n = start()
	t.Cleanup(n.Shutdown)
	again, _ := os.ReadFile(reader)
	if string(again) != string(first) {
		t.Fatal("the reader's identity changed across a restart")
	}
}

// TestLeafAgentCannotActAsAnotherNode: a hub and a leaf node started as
// the agents start them (route password, inventory; no route TLS). The
// leaf node's agent publishes its own events through the hub and is
// refused the hub's subjects and the leases' bucket deletion; the leaf
// node's reader reads. A server holding the route password but not in the
// inventory (an intruder's leaf identity derived from it) is no leaf of
// the hub: the hub knows the leaf identities of the inventory's nodes only.
func TestLeafAgentCannotActAsAnotherNode(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "nats-route.password")
	if err := os.WriteFile(pwFile, []byte("route-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clusterPort, leafPort := freeTCPPort(t), freeTCPPort(t)
	host := func(name, last string) *cluster.Host {
		return &cluster.Host{Name: name, IP: netip.MustParseAddr(testNet + last)}
	}
	inv := &cluster.Cluster{Hosts: []*cluster.Host{host("core-1.test.local", "51"), host("collector-1.test.local", "52")}}
	quiet := slog.New(slog.DiscardHandler)
	tweak := func(e *config.EmbeddedNATS) {
		e.ClusterPort, e.LeafPort = clusterPort, leafPort
		e.JetStreamServers = 1
	}
	hub := startTLSEmbedded(t, inv.Hosts[0], inv, nil, pwFile, quiet, 1, tweak)
	leaf := startTLSEmbedded(t, inv.Hosts[1], inv, nil, pwFile, quiet, 1, tweak)
	eventually(t, "the leaf node connected", 30*time.Second, func() bool { return leaf.NumLeafs() == 1 && hub.NumLeafs() == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := natsbus.EnsureStream(ctx, hub.agentJS(t, ctx), natsbus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	o, err := leaf.bus.clientOptions(leaf.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	violations := make(chan error, 8)
	nc, err := natsbus.Connect(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			violations <- err
		}
	})
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	own, _ := events.New("kuma", "collector-1.test.local", events.AgentStarted, "agent", events.SeverityInfo, events.AgentData{Version: "t"}, time.Now())
	eventually(t, "the leaf node's own event stored", 30*time.Second, func() bool {
		pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
		defer pcancel()
		return natsbus.Publish(pctx, js, own) == nil
	})
	forged, _ := events.New("kuma", "core-1.test.local", events.MemberFailed, "core-2.test.local", events.SeverityCritical, events.MemberData{Member: "core-2.test.local"}, time.Now())
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	if err := natsbus.Publish(pctx, js, forged); err == nil {
		t.Fatal("the leaf node's agent published as the hub")
	}
	pcancel()
	select {
	case v := <-violations:
		t.Logf("refused: %v", v)
	case <-time.After(5 * time.Second):
		t.Fatal("no permissions violation for publishing as the hub")
	}
	var got []string
	if err := natsbus.Read(ctx, leaf.readerJS(t, ctx), natsbus.DefaultStreamName, natsbus.Query{}, func(r events.Event) error {
		got = append(got, r.Node())
		return nil
	}); err != nil || strings.Join(got, ",") != "collector-1.test.local" {
		t.Fatalf("the stream holds events of %v (%v); want only the leaf node's own", got, err)
	}

	// An intruder with the route password, not in the hub's inventory.
	var log logBuffer
	intruder := host("intruder.test.local", "53")
	withIntruder := &cluster.Cluster{Hosts: append(append([]*cluster.Host{}, inv.Hosts...), intruder)}
	bad := startTLSEmbedded(t, intruder, withIntruder, nil, pwFile, log.Logger(), 1, tweak)
	eventually(t, "the intruder's leaf connection refused", 30*time.Second, func() bool {
		return log.Contains("Authorization Violation")
	})
	if bad.NumLeafs() != 0 || hub.NumLeafs() != 1 {
		t.Fatalf("intruder leafs %d, hub leafs %d; want 0 and 1", bad.NumLeafs(), hub.NumLeafs())
	}
}
