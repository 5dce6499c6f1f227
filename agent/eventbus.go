package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/component"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/events/outbox"
	"github.com/kuma-agent/kuma-agent/internal/natsbus"
	"github.com/kuma-agent/kuma-agent/internal/retry"
)

// routeUser is the user the embedded servers' routes authenticate as,
// with the route password; leaf connections authenticate as their node's
// leaf identity (natsbus.RoleLeaf).
const routeUser = "kuma-route"

// eventBus is the agent's side of events. Every event goes to the on-disk
// outbox first; a publisher drains the outbox into JetStream in order, with
// the event id as the message id, so events made while NATS is away are
// delivered when it returns, once.
type eventBus struct {
	cfg     config.Config
	node    string
	self    *cluster.Host
	cluster *cluster.Cluster
	log     *slog.Logger
	ob      *outbox.Outbox
	window  int // publishes awaiting acknowledgement at most

	// hb is the drain loop's heartbeat (nil: none), set before run;
	// stallAfter is how long it may go silent (0: maxAttempt applies).
	hb         *component.Heartbeat
	stallAfter time.Duration
	// url and servers are where run publishes and how many JetStream
	// servers there are; srv is the embedded server (nil with an external
	// one). Set by startServer.
	url     string
	servers int
	srv     *natsbus.Server

	mu        sync.Mutex
	id        natsbus.Identity // the agent's on the embedded server (set by startEmbedded)
	connected bool
	// onConn is told of the live connection (nil when it ends); set
	// before run.
	onConn    func(nc *nats.Conn, servers int)
	published uint64
	failures  uint64
	emitted   uint64 // emit calls
}

// newEventBus opens the outbox. A state directory that cannot be used
// does not fail it: the outbox holds events in memory (memoryBytes of
// them, 0: its default) and says so in its Health, which the state check
// reports. Only bad options fail.
func newEventBus(cfg config.Config, node string, self *cluster.Host, c *cluster.Cluster, log *slog.Logger, memoryBytes int64) (*eventBus, error) {
	ob, err := outbox.Open(outbox.Options{
		Dir: filepath.Join(cfg.StateDir, "outbox"), MaxBytes: int64(cfg.Events.Outbox.MaxBytes),
		Sync: outbox.SyncInterval, Cluster: cfg.Events.Cluster, Node: node, Logger: log, MemoryBytes: memoryBytes,
	})
	if err != nil {
		return nil, fmt.Errorf("event outbox: %w", err)
	}
	return &eventBus{cfg: cfg, node: node, self: self, cluster: c, log: log, ob: ob, window: publishWindow}, nil
}

// emit records an event; it never blocks on NATS. An event the outbox
// does not take (too large) is counted there and announced.
func (b *eventBus) emit(id string, t events.Type, subject string, sev events.Severity, data any) {
	e, err := events.New(b.cfg.Events.Cluster, b.node, t, subject, sev, data, time.Now())
	if err == nil {
		if id != "" {
			e.ID = id
		}
		err = b.ob.Append(e)
	}
	b.mu.Lock()
	b.emitted++
	b.mu.Unlock()
	if err != nil {
		b.log.Error("event not recorded", "type", t, "subject", subject, "err", err)
	}
}

// startServer starts the embedded NATS server unless an external URL is
// configured. False means there is nothing to publish to (logged): the
// events stay in the outbox.
func (b *eventBus) startServer() bool {
	b.url, b.servers = b.cfg.Events.NATS.URL, 1
	if b.url != "" {
		return true
	}
	srv, n, err := b.startEmbedded()
	if err != nil {
		b.log.Error("embedded NATS server not started; events stay in the outbox", "err", err)
		return false
	}
	b.srv, b.url, b.servers = srv, srv.ClientURL(), n
	return true
}

// stopServer stops the embedded server, if one runs; after run returned.
func (b *eventBus) stopServer() {
	if b.srv != nil {
		b.srv.Shutdown()
	}
}

// run connects to the server startServer chose, makes sure the stream
// exists and drains the outbox until ctx is done. Connection trouble is
// retried forever: the outbox keeps the events. It beats b.hb throughout,
// and retires it when it gives up.
func (b *eventBus) run(ctx context.Context) {
	defer b.hb.Retire() // ended: stopped, or given up on and logged
	nc, pub, ok := b.open(ctx, b.url, b.servers)
	if !ok {
		return
	}
	defer nc.Close()
	b.setConnected(true)
	defer b.setConnected(false)
	if b.onConn != nil { // the supervisor's lease rides on this connection
		b.onConn(nc, b.servers)
		defer b.onConn(nil, 0)
	}
	b.drainLoop(ctx, pub)
}

// open connects to url, makes sure the stream exists (replicated on up to
// 3 of servers) and returns the connection and the publisher. Trouble is
// retried until ctx ends (false).
func (b *eventBus) open(ctx context.Context, url string, servers int) (*nats.Conn, *natsbus.AsyncPublisher, bool) {
	copts, err := b.clientOptions(url)
	if err != nil {
		b.log.Error("events.nats: events stay in the outbox", "err", err)
		return nil, nil, false
	}
	copts.NoReconnectBuffer = true // what the async publisher needs to keep order
	var nc *nats.Conn
	if !b.retry(ctx, "NATS not reachable; events wait in the outbox", func() (err error) {
		// Connect alone would wait as long as NATS is away; an attempt
		// that ends lets the wait between attempts beat the heartbeat.
		cctx, cancel := context.WithTimeout(ctx, b.attempt())
		defer cancel()
		nc, err = natsbus.Connect(cctx, copts)
		return err
	}) {
		return nil, nil, false
	}
	fail := func(what string, err error) (*nats.Conn, *natsbus.AsyncPublisher, bool) {
		if err != nil {
			b.log.Error(what+"; events stay in the outbox", "err", err)
		}
		nc.Close()
		return nil, nil, false
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fail("jetstream", err)
	}
	pub, err := natsbus.NewAsyncPublisher(nc, b.window, natsbus.DefaultAckTimeout)
	if err != nil {
		return fail("events publisher", err)
	}
	sopts := natsbus.StreamOptions{MaxAge: b.cfg.Events.Stream.MaxAge, MaxBytes: int64(b.cfg.Events.Stream.MaxBytes),
		Replicas: natsbus.ReplicasFor(servers)}
	// With a cluster, the stream needs its replicas' servers up: wait.
	if !b.retry(ctx, "events stream not ready; events wait in the outbox", func() error {
		sctx, cancel := context.WithTimeout(ctx, b.attempt())
		defer cancel()
		_, err := natsbus.EnsureStream(sctx, js, sopts)
		return err
	}) {
		return fail("", nil)
	}
	return nc, pub, true
}

// clientOptions are the agent's connection to url: the external NATS with
// events.nats' credentials, or the embedded server as the agent's identity.
func (b *eventBus) clientOptions(url string) (natsbus.ClientOptions, error) {
	name, log := "kuma-agent "+b.node, b.log.With("component", "nats")
	if b.cfg.Events.NATS.URL != "" {
		o, err := natsbus.ClientOptionsFor(b.cfg, name, log)
		o.URL = url
		return o, err
	}
	b.mu.Lock()
	id := b.id
	b.mu.Unlock()
	return natsbus.ClientOptions{URL: url, User: id.User, Password: id.Password, InboxPrefix: id.InboxPrefix,
		Name: name, Logger: log}, nil
}

// maxAttempt bounds one attempt to connect or to set up the stream.
const maxAttempt = 10 * time.Second

// attempt is how long one connect or stream attempt may take: maxAttempt,
// and at most half of what the heartbeat may stay silent (an attempt does
// not beat; the waits between attempts do).
func (b *eventBus) attempt() time.Duration {
	if b.stallAfter > 0 {
		return min(maxAttempt, b.stallAfter/2)
	}
	return maxAttempt
}

// connectBackoff starts short: after a cluster boot the stream's
// placement succeeds seconds later, once the peers' servers have met.
var connectBackoff = retry.Backoff{Min: 500 * time.Millisecond, Max: 10 * time.Second}

// retry runs fn until it succeeds (true) or ctx is done (false), logging
// each failure; the waits beat the heartbeat.
func (b *eventBus) retry(ctx context.Context, what string, fn func() error) bool {
	return b.hb.Retry(ctx, connectBackoff, func(context.Context) error { return fn() }, func(err error, wait time.Duration) {
		b.log.Warn(what, "err", err, "retry_in", wait)
	}) == nil
}

// publishWindow bounds the events published and not yet acknowledged by
// JetStream (see BenchmarkDrain for what it buys).
const publishWindow = 256

// drain publishes what the outbox holds, in order, with up to b.window
// acknowledgements awaited at once; an event leaves the outbox once it and
// every event before it are acknowledged.
func (b *eventBus) drain(ctx context.Context, pub *natsbus.AsyncPublisher) (int, error) {
	return b.ob.DrainWindow(ctx, func(e events.Event) (outbox.Pending, error) {
		b.hb.Beat() // a long backlog is progress, one event at a time
		a, err := pub.PublishAsync(e)
		if errors.Is(err, natsbus.ErrInvalidEvent) {
			// It would fail forever and hold up every event behind it.
			b.log.Error("event cannot be published; dropped from the outbox", "id", e.ID, "type", e.Type, "err", err)
			return skipped{}, nil
		}
		if err != nil {
			return nil, err
		}
		return a, nil
	}, b.window)
}

// skipped is the outcome of an event not sent: nothing to wait for.
type skipped struct{}

func (skipped) Wait(context.Context) error { return nil }
func (skipped) Done() (bool, error)        { return true, nil }

// drainBackoff spaces the retries of a failed drain.
var drainBackoff = retry.Backoff{Min: 200 * time.Millisecond, Max: 10 * time.Second}

// drainLoop publishes whatever the outbox holds, then waits for more.
func (b *eventBus) drainLoop(ctx context.Context, pub *natsbus.AsyncPublisher) {
	failures := 0
	for {
		more := b.ob.Wait() // taken before Drain, so an append during it is not missed
		n, err := b.drain(ctx, pub)
		b.mu.Lock()
		b.published += uint64(n)
		if err != nil && ctx.Err() == nil {
			b.failures++
		}
		b.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			wait := drainBackoff.Delay(failures)
			failures++
			b.log.Warn("publishing events failed; retrying, they stay in the outbox", "err", err, "pending", b.ob.Len(), "retry_in", wait)
			if !b.hb.Sleep(ctx, wait) {
				return
			}
			continue
		}
		failures = 0
		// The 5 s bound also retries anything a race left behind.
		if !b.hb.Wait(ctx, 5*time.Second, more) {
			return
		}
	}
}

// startEmbedded runs this node's NATS server, when the route password is
// present: on a JetStream hub (see jetStreamHubs) with JetStream, routed to
// the other hubs and accepting the other nodes' leaf connections; on the
// other nodes without JetStream, as a leaf node of the hubs. servers is the
// number of JetStream servers (the stream's and the lease's replicas follow
// it).
//
// Every client authenticates (see natsbus.PermissionsFor): the server
// knows this node's agent and reader identities, from the node key (the
// route password's HMAC for this node; a random key of its own, kept in
// the state directory, without one); a hub also knows each leaf node's
// leaf identity, from that node's key. The agent keeps its own identity in
// memory (b.id) and writes the reader's, 0600, for `events` and `alerts`.
func (b *eventBus) startEmbedded() (srv *natsbus.Server, servers int, err error) {
	e := b.cfg.Events.Embedded
	o := natsbus.ServerOptions{Name: b.node, Host: e.Host, Port: e.Port, ClusterName: "kuma-" + b.cfg.Events.Cluster,
		StoreDir: filepath.Join(b.cfg.StateDir, "nats"), Logger: b.log.With("component", "nats-server")}
	servers = 1
	scope := func(node string) natsbus.Scope { return natsbus.Scope{Cluster: b.cfg.Events.Cluster, Node: node} }
	var secret []byte
	pw, err := os.ReadFile(e.RoutePasswordFile)
	switch {
	case err == nil:
		if secret = []byte(strings.TrimSpace(string(pw))); len(secret) == 0 {
			return nil, 0, fmt.Errorf("events.embedded.route_password_file %s is empty", e.RoutePasswordFile)
		}
	case e.ClusterPort == 0 || errors.Is(err, os.ErrNotExist):
	default:
		return nil, 0, fmt.Errorf("events.embedded.route_password_file: %w", err)
	}
	key, err := b.nodeKey(secret)
	if err != nil {
		return nil, 0, err
	}
	o.Users = natsbus.NodeUsers(key, scope(b.node))
	switch {
	case e.ClusterPort == 0:
	case secret == nil:
		b.log.Warn("no NATS route password: the embedded server runs alone and events stay on this node",
			"file", e.RoutePasswordFile, "fix", "create it once (openssl rand -hex 24) and copy it to every node, mode 0600")
	case b.self == nil || !b.self.IP.IsValid():
		b.log.Warn("this node has no IP address in the inventory: the embedded NATS server runs alone")
	default:
		password := string(secret)
		if t := e.RouteTLS; t != (config.RouteTLS{}) {
			if o.RouteTLS, err = natsbus.RouteTLSConfig(t.CertFile, t.KeyFile, t.CAFile); err != nil {
				return nil, 0, fmt.Errorf("events.embedded.route_tls: %w", err)
			}
		}
		hubs, leaves := jetStreamHubs(b.cluster, e.JetStreamServers)
		servers = len(hubs)
		var names []string
		for _, h := range hubs {
			names = append(names, h.Name)
		}
		if !slices.ContainsFunc(hubs, func(h *cluster.Host) bool { return h.Name == b.self.Name }) {
			o.NoJetStream = true
			leaf := natsbus.IdentityOf(key, b.node, natsbus.RoleLeaf)
			o.LeafUser, o.LeafPassword = leaf.User, leaf.Password
			for _, h := range hubs {
				o.LeafRemotes = append(o.LeafRemotes, "nats-leaf://"+net.JoinHostPort(h.IP.String(), strconv.Itoa(e.LeafPort)))
			}
			b.log.Info("embedded NATS server: a leaf node without JetStream, connected to a JetStream hub", "hubs", names)
			break
		}
		// A single hub runs JetStream unclustered: a JetStream cluster of
		// one never elects its meta leader (it waits for routes).
		if len(hubs) > 1 {
			o.ClusterHost = b.self.IP.String()
			o.ClusterPort = e.ClusterPort
			o.RouteUser, o.RoutePassword = routeUser, password
			for _, h := range hubs {
				o.Routes = append(o.Routes, "nats-route://"+net.JoinHostPort(h.IP.String(), strconv.Itoa(e.ClusterPort)))
			}
		}
		if leaves > 0 { // with every node a hub, no listener nobody uses
			o.LeafHost, o.LeafPort = b.self.IP.String(), e.LeafPort
			// Each leaf node's connection may do here what that node's
			// identities may, no more: none can act as another node.
			for _, h := range leafHosts(b.cluster, hubs) {
				o.Users = append(o.Users, natsbus.LeafUser(natsbus.NodeKey(secret, h.Name), scope(h.Name)))
			}
		}
		b.log.Info("embedded NATS server: a JetStream hub", "hubs", names, "leaf_nodes", leaves)
	}
	b.mu.Lock()
	b.id = natsbus.IdentityOf(key, b.node, natsbus.RoleAgent)
	b.mu.Unlock()
	idFile := filepath.Join(b.cfg.StateDir, natsbus.ReaderIdentityFile)
	if err := natsbus.WriteIdentityFile(idFile, natsbus.IdentityOf(key, b.node, natsbus.RoleReader)); err != nil {
		return nil, 0, fmt.Errorf("NATS reader credentials: %w", err)
	}
	srv, err = natsbus.StartServer(o)
	return srv, servers, err
}

// nodeKey is this node's key: from the cluster secret, else the random
// one in the state directory (made on the first start).
func (b *eventBus) nodeKey(secret []byte) ([]byte, error) {
	if secret != nil {
		return natsbus.NodeKey(secret, b.node), nil
	}
	k, err := natsbus.LoadOrCreateNodeKey(filepath.Join(b.cfg.StateDir, natsbus.NodeKeyFile))
	if err != nil {
		return nil, fmt.Errorf("NATS node key: %w", err)
	}
	return k, nil
}

// leafHosts are the hosts with an address that are not hubs: the leaf
// nodes.
func leafHosts(c *cluster.Cluster, hubs []*cluster.Host) []*cluster.Host {
	var out []*cluster.Host
	for _, h := range c.Hosts {
		if h.IP.IsValid() && !slices.Contains(hubs, h) {
			out = append(out, h)
		}
	}
	return out
}

// jetStreamHubs picks the nodes whose embedded servers run JetStream: the
// first n inventory hosts that have an IP address, in inventory order, so
// every agent (reading the same inventory) picks the same ones; n == 0 or
// n at least their number means all of them. leaves counts the hosts with
// an address left out.
func jetStreamHubs(c *cluster.Cluster, n int) (hubs []*cluster.Host, leaves int) {
	for _, h := range c.Hosts {
		switch {
		case !h.IP.IsValid():
		case n > 0 && len(hubs) == n:
			leaves++
		default:
			hubs = append(hubs, h)
		}
	}
	return hubs, leaves
}

// flush waits, up to d, for the outbox to empty while the publisher runs.
func (b *eventBus) flush(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if b.ob.Len() == 0 {
			return
		}
		b.mu.Lock()
		up := b.connected
		b.mu.Unlock()
		if !up {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *eventBus) setConnected(v bool) {
	b.mu.Lock()
	b.connected = v
	b.mu.Unlock()
}

// busStats is what /metrics reports about events.
type busStats struct {
	connected                    bool
	published, failures, emitted uint64
	pending                      int
	outbox                       outbox.Health
}

func (b *eventBus) stats() busStats {
	b.mu.Lock()
	st := busStats{connected: b.connected, published: b.published, failures: b.failures, emitted: b.emitted}
	b.mu.Unlock()
	st.pending = b.ob.Len()
	st.outbox = b.ob.Health()
	return st
}

func (b *eventBus) close() error {
	if err := b.ob.Close(); err != nil {
		return fmt.Errorf("event outbox: %w", err)
	}
	return nil
}
