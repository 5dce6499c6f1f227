package agent

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/natsbus"
	"github.com/kuma-agent/kuma-agent/internal/testlab"
)

// logBuffer is a concurrency-safe slog sink tests can search.
type logBuffer struct{ testlab.SyncBuffer }

func (b *logBuffer) Logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestEmbeddedRouteTLS: three agents' embedded servers, configured from
// agent.yaml's events.embedded.route_tls, form a cluster over TLS routes,
// and an event published on one is read on another. A server whose
// certificate another CA signed (and which trusts only that CA) is kept
// out.
func TestEmbeddedRouteTLS(t *testing.T) {
	dir := t.TempDir()
	good, other := newTestCA(t, dir, "good"), newTestCA(t, dir, "other")
	pwFile := filepath.Join(dir, "nats-route.password")
	if err := os.WriteFile(pwFile, []byte("route-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clusterPort := freeTCPPort(t)
	host := func(i string) *cluster.Host {
		return &cluster.Host{Name: "core-" + i + ".test.local", IP: netip.MustParseAddr(testNet + "1" + i)}
	}
	members := &cluster.Cluster{Hosts: []*cluster.Host{host("1"), host("2"), host("3")}}
	start := func(self *cluster.Host, inv *cluster.Cluster, ca *testCA, log *slog.Logger) nodeServer {
		t.Helper()
		return startTLSEmbedded(t, self, inv, ca, pwFile, log, len(inv.Hosts), func(e *config.EmbeddedNATS) {
			e.ClusterPort = clusterPort
			e.JetStreamServers = 0 // every node routed, the intruder too
		})
	}
	quiet := slog.New(slog.DiscardHandler)
	var srvs []nodeServer
	for _, h := range members.Hosts {
		srvs = append(srvs, start(h, members, good, quiet))
	}
	meshed := func() bool {
		for _, s := range srvs {
			if s.NumPeers() != len(srvs)-1 {
				return false
			}
		}
		return true
	}
	eventually(t, "a full mesh of TLS routes", 30*time.Second, meshed)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	js1, js3 := srvs[0].agentJS(t, ctx), srvs[2].readerJS(t, ctx)
	eventually(t, "an R3 stream", 30*time.Second, func() bool {
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		defer scancel()
		_, err := natsbus.EnsureStream(sctx, js1, natsbus.StreamOptions{Replicas: 3})
		return err == nil
	})
	e, err := events.New("kuma", "core-1.test.local", events.AgentStarted, "agent", events.SeverityInfo, events.AgentData{Version: "test"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the event stored", 30*time.Second, func() bool {
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		defer pcancel()
		return natsbus.Publish(pctx, js1, e) == nil
	})
	var got []string
	eventually(t, "the event read on core-3", 30*time.Second, func() bool {
		got = got[:0]
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		defer rcancel()
		_ = natsbus.Read(rctx, js3, natsbus.DefaultStreamName, natsbus.Query{}, func(r events.Event) error {
			got = append(got, r.ID)
			return nil
		})
		return len(got) == 1 && got[0] == e.ID
	})

	// The intruder dials all three (and they it: it is in its inventory only).
	var log logBuffer
	intruder := host("4")
	withIntruder := &cluster.Cluster{Hosts: append(append([]*cluster.Host{}, members.Hosts...), intruder)}
	bad := start(intruder, withIntruder, other, log.Logger())
	eventually(t, "the intruder's TLS handshakes to fail", 30*time.Second, func() bool {
		return log.Contains("TLS route handshake error")
	})
	if n := bad.NumRoutes(); n != 0 {
		t.Fatalf("the intruder has %d routes", n)
	}
	if !meshed() {
		t.Fatal("the intruder changed the good servers' mesh")
	}
}

// externalUser may do anything on the natsbus servers that stand in for an
// external NATS (events.nats.url).
var externalUser = natsbus.Identity{User: "external", Password: "external-secret"}

// useExternal points cfg at the external NATS at url, as externalUser.
func useExternal(t testing.TB, cfg *config.Config, url string) {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "nats.password")
	if err := os.WriteFile(pw, []byte(externalUser.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Events.NATS.URL, cfg.Events.NATS.User, cfg.Events.NATS.PasswordFile = url, externalUser.User, pw
}

// clientJS connects as o says.
func clientJS(t *testing.T, ctx context.Context, o natsbus.ClientOptions) jetstream.JetStream {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	nc, err := natsbus.Connect(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// nodeServer is a node's embedded server as its agent starts it, and the
// event bus that started it (which knows the node's identities).
type nodeServer struct {
	*natsbus.Server
	bus *eventBus
}

// agentJS connects as the node's agent.
func (n nodeServer) agentJS(t *testing.T, ctx context.Context) jetstream.JetStream {
	t.Helper()
	o, err := n.bus.clientOptions(n.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	return clientJS(t, ctx, o)
}

// readerJS connects as `events` and `alerts` do on the node: its reader
// identity, from the file the agent wrote.
func (n nodeServer) readerJS(t *testing.T, ctx context.Context) jetstream.JetStream {
	t.Helper()
	o, err := natsbus.ClientOptionsFor(n.bus.cfg, "test reader", nil)
	if err != nil {
		t.Fatal(err)
	}
	o.URL = n.ClientURL()
	return clientJS(t, ctx, o)
}

// startTLSEmbedded starts self's embedded server from the agent's config,
// with route TLS from ca (none: nil) and the route password in pwFile;
// tweak sets the ports and the hub count. It fails the test unless the
// server counts wantServers JetStream servers.
func startTLSEmbedded(t *testing.T, self *cluster.Host, inv *cluster.Cluster, ca *testCA, pwFile string, log *slog.Logger,
	wantServers int, tweak func(*config.EmbeddedNATS)) nodeServer {
	t.Helper()
	cfg := config.Default()
	cfg.StateDir = t.TempDir()
	cfg.Events.Embedded.Port = freeTCPPort(t)
	cfg.Events.Embedded.RoutePasswordFile = pwFile
	tweak(&cfg.Events.Embedded)
	if ca != nil {
		cert, key := ca.issue(t, self.Name, self.IP.String())
		cfg.Events.Embedded.RouteTLS = config.RouteTLS{CertFile: cert, KeyFile: key, CAFile: ca.file}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	b := &eventBus{cfg: cfg, node: self.Name, self: self, cluster: inv, log: log}
	srv, servers, err := b.startEmbedded()
	if err != nil {
		t.Fatalf("%s: %v", self.Name, err)
	}
	t.Cleanup(srv.Shutdown)
	if servers != wantServers {
		t.Fatalf("%s: %d JetStream servers, want %d", self.Name, servers, wantServers)
	}
	return nodeServer{srv, b}
}
