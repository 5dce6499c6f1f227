package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/natsbus"
)

func TestJetStreamHubs(t *testing.T) {
	h := func(name, ip string) *cluster.Host {
		x := &cluster.Host{Name: name}
		if ip != "" {
			x.IP = netip.MustParseAddr(ip)
		}
		return x
	}
	c := &cluster.Cluster{Hosts: []*cluster.Host{h("a", "10.0.0.5"), h("noip", ""), h("b", "10.0.0.1"), h("c", "10.0.0.9"), h("d", "10.0.0.2"), h("e", "10.0.0.3")}}
	for _, tc := range []struct {
		n      int
		hubs   string
		leaves int
	}{
		{0, "a b c d e", 0},
		{1, "a", 4},
		{3, "a b c", 2},
		{5, "a b c d e", 0},
		{7, "a b c d e", 0},
	} {
		hubs, leaves := jetStreamHubs(c, tc.n)
		var names []string
		for _, x := range hubs {
			names = append(names, x.Name)
		}
		if got := strings.Join(names, " "); got != tc.hubs || leaves != tc.leaves {
			t.Errorf("jetStreamHubs(%d) = %q, %d leaves; want %q, %d", tc.n, got, leaves, tc.hubs, tc.leaves)
		}
	}
}

// fiveInventory: the 3 Cores (the JetStream hubs by default) and, after
// them, a collector and a storage (leaf nodes).
var fiveInventory = testInventory + fmt.Sprintf(`    kuma_collector:
      hosts:
        collector-1.test.local:
          ip: %[1]s11
    kuma_storage:
      hosts:
        storage-1.test.local:
          ip: %[1]s21
`, testNet)

// TestLeafNodeEventsReachTheStream: 5 agents, JetStream on the 3 Cores
// (jetstream_servers: 3), the collector and the storage as leaf nodes
// without JetStream. The leaves' events are in the R3 stream on the hubs,
// read through a leaf; with every hub down, a leaf's event waits in its
// outbox and is stored once the hubs are back.
func TestLeafNodeEventsReachTheStream(t *testing.T) {
	tc := startClusterFrom(t, fiveInventory, nil)
	hubs := []string{"core-1.test.local", "core-2.test.local", "core-3.test.local"}
	leaf := tc.nodes["collector-1.test.local"]
	leaf.waitAlive(t, 5)
	for _, name := range []string{"collector-1.test.local", "storage-1.test.local"} {
		if _, err := os.Stat(filepath.Join(tc.nodes[name].cfg.StateDir, "nats")); !os.IsNotExist(err) {
			t.Errorf("%s, a leaf node, has a JetStream store (%v)", name, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	js := leaf.jetStream(t, ctx)

	started := func() []string {
		var seen []string
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		defer rcancel()
		_ = natsbus.Read(rctx, js, natsbus.DefaultStreamName, natsbus.Query{Types: []events.Type{events.AgentStarted}}, func(e events.Event) error {
			if !slices.Contains(seen, e.Node()) {
				seen = append(seen, e.Node())
			}
			return nil
		})
		return seen
	}
	eventually(t, "agent.started from all five, read on a leaf", 60*time.Second, func() bool { return len(started()) == 5 })

	st, err := js.Stream(ctx, natsbus.DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil || !slices.Contains(hubs, info.Cluster.Leader) || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream not R3 on the hubs: replicas %d, cluster %+v", info.Config.Replicas, info.Cluster)
	}
	for _, r := range info.Cluster.Replicas {
		if !slices.Contains(hubs, r.Name) {
			t.Fatalf("stream replica on %s, not a hub", r.Name)
		}
	}

	// Every hub down: the storage's event waits in its outbox.
	for _, h := range hubs {
		tc.nodes[h].stop(t)
	}
	storage := tc.nodes["storage-1.test.local"]
	prev := checks.Outcome{Check: "leaf-marker", Result: checks.Okf("ok")}
	storage.agent.onCheckChange(&prev, checks.Outcome{Check: "leaf-marker", Result: checks.Critf("emitted with every hub down", "")})
	time.Sleep(2 * time.Second)
	if storage.agent.bus.stats().pending == 0 {
		t.Fatal("the storage's outbox is empty with every hub down")
	}
	for _, h := range hubs {
		cfg := tc.nodes[h].cfg
		tc.start(t, h, cfg, quietOptions())
	}
	eventually(t, "the marker event in the stream, read on the other leaf", 90*time.Second, func() bool {
		found := 0
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		defer rcancel()
		_ = natsbus.Read(rctx, js, natsbus.DefaultStreamName, natsbus.Query{Types: []events.Type{events.CheckStatusChanged}, Node: "storage-1.test.local"}, func(e events.Event) error {
			if e.Subject == "leaf-marker" {
				found++
			}
			return nil
		})
		if found > 1 {
			t.Fatalf("the marker stored %d times", found)
		}
		return found == 1
	})
	// Events made after the marker (the hubs' joins) drain behind it: wait
	// for the outbox to empty, not for an instant in which it happens to be.
	eventually(t, "the storage's outbox drained", 30*time.Second, func() bool {
		return storage.agent.bus.stats().pending == 0
	})
}

// TestEmbeddedLeafTLS: with events.embedded.route_tls, a leaf node's
// connection to its hub is mutual TLS too: a leaf node with a certificate
// of the cluster's CA publishes through the hub's JetStream, one whose
// certificate another CA signed is kept out.
func TestEmbeddedLeafTLS(t *testing.T) {
	dir := t.TempDir()
	good, other := newTestCA(t, dir, "good"), newTestCA(t, dir, "other")
	pwFile := filepath.Join(dir, "nats-route.password")
	if err := os.WriteFile(pwFile, []byte("route-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clusterPort, leafPort := freeTCPPort(t), freeTCPPort(t)
	host := func(i string) *cluster.Host {
		return &cluster.Host{Name: "core-" + i + ".test.local", IP: netip.MustParseAddr(testNet + "4" + i)}
	}
	inv := &cluster.Cluster{Hosts: []*cluster.Host{host("1"), host("2"), host("3")}}
	start := func(self *cluster.Host, ca *testCA, log *slog.Logger) nodeServer {
		t.Helper()
		return startTLSEmbedded(t, self, inv, ca, pwFile, log, 1, func(e *config.EmbeddedNATS) {
			e.ClusterPort, e.LeafPort = clusterPort, leafPort
			e.JetStreamServers = 1
		})
	}
	quiet := slog.New(slog.DiscardHandler)
	if os.Getenv("KUMA_NATS_TEST_LOG") != "" {
		quiet = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	hub := start(inv.Hosts[0], good, quiet)
	leaf := start(inv.Hosts[1], good, quiet)
	eventually(t, "the leaf node connected over TLS", 30*time.Second, func() bool { return leaf.NumLeafs() == 1 && hub.NumLeafs() == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	jsLeaf, jsHub := leaf.agentJS(t, ctx), hub.readerJS(t, ctx)
	eventually(t, "the stream created through the leaf node", 30*time.Second, func() bool {
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		defer scancel()
		_, err := natsbus.EnsureStream(sctx, jsLeaf, natsbus.StreamOptions{Replicas: natsbus.ReplicasFor(1)})
		if err != nil {
			t.Logf("EnsureStream: %v", err)
		}
		return err == nil
	})
	e, err := events.New("kuma", "core-2.test.local", events.AgentStarted, "agent", events.SeverityInfo, events.AgentData{Version: "test"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := natsbus.Publish(ctx, jsLeaf, e); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := natsbus.Read(ctx, jsHub, natsbus.DefaultStreamName, natsbus.Query{}, func(r events.Event) error {
		got = append(got, r.ID)
		return nil
	}); err != nil || len(got) != 1 || got[0] != e.ID {
		t.Fatalf("read on the hub: %v, %v; want [%s]", got, err, e.ID)
	}

	var log logBuffer
	bad := start(inv.Hosts[2], other, log.Logger())
	eventually(t, "the intruder's TLS handshake to fail", 30*time.Second, func() bool {
		return log.Contains("handshake error")
	})
	if bad.NumLeafs() != 0 || hub.NumLeafs() != 1 {
		t.Fatalf("intruder leafs %d, hub leafs %d; want 0 and 1", bad.NumLeafs(), hub.NumLeafs())
	}
}
