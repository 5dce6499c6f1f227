package lease

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// freePorts reserves n loopback ports; the servers bind them right after.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// startCluster runs three clustered JetStream servers routed on loopback.
func startCluster(t *testing.T) []*server.Server {
	t.Helper()
	ports := freePorts(t, 3)
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	var servers []*server.Server
	for i, p := range ports {
		ns, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("s%d", i+1), Host: "127.0.0.1", Port: server.RANDOM_PORT,
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "kuma", Host: "127.0.0.1", Port: p},
			Routes:  routes,
		})
		if err != nil {
			t.Fatalf("server %d: %v", i+1, err)
		}
		ns.Start()
		t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
		servers = append(servers, ns)
	}
	for _, ns := range servers {
		if !ns.ReadyForConnections(10 * time.Second) {
			t.Fatalf("server %s not ready", ns.Name())
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for !slices.ContainsFunc(servers, (*server.Server).JetStreamIsLeader) {
		if time.Now().After(deadline) {
			t.Fatal("no JetStream meta leader")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return servers
}

// retry repeats op while the cluster settles (leader elections after a
// shutdown); the lease semantics are asserted on op's final outcome.
func retry[T any](t *testing.T, op func() (T, error), settled func(error) bool) (T, error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := op()
		if err == nil || settled(err) || time.Now().After(deadline) {
			return v, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestLeaseSurvivesLosingOneOfThreeServers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-server cluster")
	}
	servers := startCluster(t)
	var urls []string
	for _, ns := range servers {
		urls = append(urls, ns.ClientURL())
	}
	e := &env{clock: newClock(), mesh: &mesh{}, rec: &recorder{}}
	// Each agent talks to its own server first and fails over to the others.
	mk := func(node string, first int) *Manager {
		order := append([]string{urls[first]}, append(append([]string{}, urls[:first]...), urls[first+1:]...)...)
		js := connect(t, strings.Join(order, ","), nats.DontRandomize(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
		m, err := retry(t, func() (*Manager, error) {
			return New(context.Background(), js, Options{Node: node, Liveness: e.mesh, OnEvent: e.rec.on, Now: e.clock.Now, Replicas: 3})
		}, func(error) bool { return false })
		if err != nil {
			t.Fatalf("New(%s): %v", node, err)
		}
		return m
	}
	a, b := mk("node-a", 0), mk("node-b", 1)
	ctx := context.Background()
	la := mustAcquire(t, a, "heal")
	_, err := b.Acquire(ctx, "heal")
	wantHeld(t, err, "node-a")

	st, err := a.kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas; r != 3 {
		t.Fatalf("bucket replicas %d, want 3", r)
	}

	// Lose the bucket's stream leader: the survivors must elect a new one
	// and keep the lease's state.
	leader := slices.IndexFunc(servers, func(ns *server.Server) bool {
		return ns.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, "KV_"+DefaultBucket)
	})
	if leader < 0 {
		t.Fatal("no stream leader for the bucket")
	}
	servers[leader].Shutdown()
	servers[leader].WaitForShutdown()

	notHeld := func(err error) bool { var h ErrHeld; return errors.As(err, &h) || errors.Is(err, ErrLost) }
	if _, err := retry(t, func() (struct{}, error) { return struct{}{}, la.Renew(ctx) }, notHeld); err != nil {
		t.Fatalf("Renew with 2 of 3 servers: %v", err)
	}
	_, err = retry(t, func() (*Lease, error) { return b.Acquire(ctx, "heal") }, notHeld)
	wantHeld(t, err, "node-a")

	e.mesh.fail("node-a")
	e.clock.Advance(16 * time.Second) // failed and expired: a takeover needs both
	lb, err := retry(t, func() (*Lease, error) { return b.Acquire(ctx, "heal") }, notHeld)
	if err != nil {
		t.Fatalf("takeover with 2 of 3 servers: %v", err)
	}
	if err := la.Renew(ctx); !errors.Is(err, ErrLost) {
		t.Fatalf("A Renew after takeover = %v, want ErrLost", err)
	}
	if err := lb.Release(ctx); err != nil {
		t.Fatalf("B Release: %v", err)
	}
	if _, _, ok, err := a.Holder(ctx, "heal"); ok || err != nil {
		t.Fatalf("Holder after release: ok=%v err=%v, want free", ok, err)
	}

	// Races on the replicated bucket (CAS conflicts use code 10164 there),
	// on fresh and on released keys. node-a rejoined the mesh, else a
	// failed holder is rightly taken over.
	e.mesh.recover("node-a")
	for _, l := range race(t, a, b, purposes("r3", 20)) {
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	race(t, a, b, purposes("r3", 20))

	// One server left: no quorum, so nobody can acquire.
	for i, ns := range servers {
		if i != leader && ns.Running() {
			ns.Shutdown()
			ns.WaitForShutdown()
			break
		}
	}
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if l, err := b.Acquire(short, "heal"); err == nil {
		t.Fatalf("Acquire without quorum succeeded: %+v", l.Record())
	} else {
		t.Logf("Acquire without quorum: %v", err)
	}
}
