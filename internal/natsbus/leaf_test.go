package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// startHubs starts n JetStream servers routed to each other (as
// startCluster) on 127.0.0.1, each with a leafnode listener accepting
// leafNodes' leaf identities; it returns them and the nats-leaf URLs of
// their listeners.
func startHubs(t *testing.T, n int, leafNodes ...string) ([]*Server, []string) {
	t.Helper()
	ports := make([]int, n)
	routes := make([]string, n)
	leafURLs := make([]string, n)
	leafPorts := make([]int, n)
	for i := range ports {
		ports[i], leafPorts[i] = freePort(t), freePort(t)
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", ports[i])
		leafURLs[i] = fmt.Sprintf("nats-leaf://127.0.0.1:%d", leafPorts[i])
	}
	var servers []*Server
	for i := range n {
		name := fmt.Sprintf("hub-%d", i+1)
		servers = append(servers, startTestServer(t, ServerOptions{
			Name: name, Logger: serverTestLog(), ClusterName: "kuma-test", ClusterPort: ports[i],
			Routes: routes, RouteUser: routeUser, RoutePassword: routePassword,
			LeafPort: leafPorts[i], Users: append(nodeUsers(name), leafUsers(leafNodes...)...),
		}))
	}
	eventually(t, 20*time.Second, "a full route mesh", func() bool {
		for _, s := range servers {
			if s.NumPeers() != n-1 {
				return false
			}
		}
		return true
	})
	return servers, leafURLs
}

// startLeaf starts node's server without JetStream on host (127.0.0.x),
// with node's users, connected as a leaf node to the hubs' listeners as
// leaf.
func startLeaf(t *testing.T, node, host string, hubs []string, leaf Identity, log *slog.Logger) *Server {
	t.Helper()
	if log == nil {
		log = serverTestLog()
	}
	return startTestServer(t, ServerOptions{Name: node, Host: host, NoJetStream: true, Logger: log, Users: nodeUsers(node),
		LeafRemotes: hubs, LeafUser: leaf.User, LeafPassword: leaf.Password})
}

// TestLeafNodesUseTheHubsJetStream: 3 hubs with JetStream clustered by
// routes and 2 leaf nodes without JetStream. Clients of the leaf nodes
// create the R3 stream, publish to it and read it back, read it with a
// durable consumer and use a key-value bucket with compare-and-set, all
// served by the hubs' JetStream across the leaf connections; all of it
// keeps working when the hub a leaf node is connected to is lost. A leaf
// node with a wrong password is refused. Every client is a node's agent or
// reader, as in a cluster of agents, and the bucket is the leases'.
func TestLeafNodesUseTheHubsJetStream(t *testing.T) {
	hubs, leafURLs := startHubs(t, 3, "leaf-1", "leaf-2")
	leaves := []*Server{
		startLeaf(t, "leaf-1", "127.0.0.2", leafURLs, testID("leaf-1", RoleLeaf), nil),
		startLeaf(t, "leaf-2", "127.0.0.3", leafURLs, testID("leaf-2", RoleLeaf), nil),
	}
	connected := func() bool {
		for _, l := range leaves {
			if l.NumLeafs() != 1 {
				return false
			}
		}
		return true
	}
	eventually(t, 20*time.Second, "both leaf nodes connected to a hub", connected)

	// A leaf node with the wrong password is refused by every hub.
	var badLog logBuffer
	wrong := testID("leaf-1", RoleLeaf)
	wrong.Password = "wrong"
	bad := startLeaf(t, "intruder", "127.0.0.4", leafURLs, wrong, badLog.Logger())
	eventually(t, 20*time.Second, "the intruder's leaf connection to be refused", func() bool {
		return badLog.Contains("Authorization Violation")
	})
	time.Sleep(500 * time.Millisecond) // room for a wrongly accepted connection to show
	hubLeafs := 0
	for _, h := range hubs {
		hubLeafs += h.NumLeafs()
	}
	if bad.NumLeafs() != 0 || hubLeafs != 2 {
		t.Fatalf("intruder leafs=%d, hubs' leaf connections=%d; want 0 and 2", bad.NumLeafs(), hubLeafs)
	}
	_, badJS := connectTest(t, bad.ClientURL())
	ictx, icancel := context.WithTimeout(context.Background(), 2*time.Second)
	if _, err := badJS.AccountInfo(ictx); err == nil {
		t.Fatal("the intruder's client reached JetStream")
	}
	icancel()
	bad.Shutdown()

	_, js1 := connectAs(t, leaves[0].ClientURL(), testID("leaf-1", RoleAgent))
	_, js2 := connectAs(t, leaves[1].ClientURL(), testID("leaf-2", RoleAgent))
	_, r1 := connectAs(t, leaves[0].ClientURL(), testID("leaf-1", RoleReader))
	_, r2 := connectAs(t, leaves[1].ClientURL(), testID("leaf-2", RoleReader))
	ctx := ctxT(t, 180*time.Second)
	var st jetstream.Stream
	eventually(t, 30*time.Second, "an R3 stream created from a leaf node", func() bool {
		ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var err error
		st, err = EnsureStream(ectx, js1, StreamOptions{Replicas: ReplicasFor(len(hubs))})
		if err != nil {
			t.Logf("EnsureStream: %v", err)
		}
		return err == nil
	})
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 ||
		!strings.HasPrefix(info.Cluster.Leader, "hub-") {
		t.Fatalf("stream is not R3 on the hubs: config replicas %d, cluster %+v", info.Config.Replicas, info.Cluster)
	}

	var sent []string
	publish := func(js jetstream.JetStream, node string, n int) {
		t.Helper()
		for i := range n {
			e := testEvent(t, "prod", node, events.CheckStatusChanged, i, time.Now())
			eventually(t, 30*time.Second, "a publish acknowledged", func() bool {
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				return Publish(pctx, js, e) == nil
			})
			sent = append(sent, e.ID)
		}
	}
	readBack := func(js jetstream.JetStream, what string) {
		t.Helper()
		got := readAll(t, js, DefaultStreamName, Query{})
		if len(got) != len(sent) {
			t.Fatalf("%s: read %d events, want %d", what, len(got), len(sent))
		}
		for i := range got {
			if got[i].ID != sent[i] {
				t.Fatalf("%s: event %d: %s, want %s", what, i, got[i].ID, sent[i])
			}
		}
	}
	publish(js1, "leaf-1", 20)
	publish(js2, "leaf-2", 20)
	readBack(r2, "read on leaf-2")

	// A durable consumer (what kuma-agent alerts reads with) on leaf-2
	// gets what leaf-1 publishes after it exists. It is created first, as
	// ReadDurable creates it, and used once it has a leader: a replicated
	// consumer that has none yet sets its deliver-new start point only
	// when it gets one, so events stored in between are not delivered
	// (seen on 3 routed servers without leaf nodes as well).
	d := Durable{Name: "alerts-leaf-2"}
	eventually(t, 30*time.Second, "the durable consumer created through leaf-2, with a leader", func() bool {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		c, err := r2.CreateOrUpdateConsumer(cctx, DefaultStreamName, jetstream.ConsumerConfig{Durable: d.Name,
			DeliverPolicy: jetstream.DeliverNewPolicy, AckPolicy: jetstream.AckExplicitPolicy, AckWait: DefaultAckWait, MaxAckPending: DefaultMaxAckPending})
		if err != nil {
			return false
		}
		ci, err := c.Info(cctx)
		return err == nil && ci.Cluster != nil && ci.Cluster.Leader != ""
	})
	dr := startDurable(t, r2, d, func(_ events.Event, s Settle) { s(true) })
	// within bounds the wait for each event: after a hub's loss the
	// consumer's pull request may have been lost with it, and the client
	// asks again only once the server's heartbeats are missed.
	durableGets := func(from int, within time.Duration) {
		t.Helper()
		for _, id := range sent[from:] {
			select {
			case e := <-dr.got:
				if e.ID != id {
					t.Fatalf("the durable consumer delivered %s, want %s", e.ID, id)
				}
			case <-time.After(within):
				t.Fatalf("the durable consumer delivered nothing within %v (waiting for %s)", within, id)
			}
		}
	}
	n := len(sent)
	publish(js1, "leaf-1", 5)
	durableGets(n, 10*time.Second)

	// Key-value with compare-and-set, as the lease uses it.
	var kv1 jetstream.KeyValue
	eventually(t, 30*time.Second, "an R3 key-value bucket created from a leaf node", func() bool {
		kctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		kv1, err = js1.CreateKeyValue(kctx, jetstream.KeyValueConfig{Bucket: LeaseBucket, Replicas: 3})
		if err != nil {
			t.Logf("CreateKeyValue: %v", err)
		}
		return err == nil
	})
	kv2, err := js2.KeyValue(ctx, LeaseBucket)
	if err != nil {
		t.Fatal(err)
	}
	casRound := func(want string) {
		t.Helper()
		// Each step retried while a hub's loss is being dealt with; the
		// assertions are on what succeeds.
		var rev uint64
		eventually(t, 30*time.Second, "a key read through leaf-2", func() bool {
			kctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			e, err := kv2.Get(kctx, "heal")
			if err != nil {
				t.Logf("Get: %v", err)
				return false
			}
			if string(e.Value()) != want {
				t.Fatalf("heal = %q, want %q", e.Value(), want)
			}
			rev = e.Revision()
			return true
		})
		var next uint64
		eventually(t, 30*time.Second, "a compare-and-set through leaf-2", func() bool {
			kctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			next, err = kv2.Update(kctx, "heal", []byte("leaf-2"), rev)
			if err != nil {
				t.Logf("Update: %v", err)
			}
			return err == nil
		})
		// leaf-1's write with the old revision must lose.
		eventually(t, 30*time.Second, "a stale compare-and-set refused through leaf-1", func() bool {
			kctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			_, err := kv1.Update(kctx, "heal", []byte("leaf-1"), rev)
			if err == nil {
				t.Fatal("a stale revision was accepted")
			}
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
				return true
			}
			t.Logf("stale Update: %v", err)
			return false
		})
		eventually(t, 30*time.Second, "a compare-and-set through leaf-1", func() bool {
			kctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			_, err := kv1.Update(kctx, "heal", []byte(want), next)
			if err != nil {
				t.Logf("Update: %v", err)
			}
			return err == nil
		})
	}
	eventually(t, 30*time.Second, "a key created through leaf-1", func() bool {
		kctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_, err := kv1.Create(kctx, "heal", []byte("leaf-1"))
		if err != nil {
			t.Logf("Create: %v", err)
		}
		return err == nil
	})
	casRound("leaf-1")

	// Lose the hub leaf-1 is connected to.
	lost := -1
	for i, h := range hubs {
		lz, err := h.ns.Leafz(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lz.Leafs {
			if l.Name == "leaf-1" {
				lost = i
			}
		}
	}
	if lost < 0 {
		t.Fatal("no hub lists leaf-1 as a leaf connection")
	}
	hubs[lost].Shutdown()
	t.Logf("hub-%d (leaf-1's) shut down", lost+1)
	eventually(t, 30*time.Second, "leaf-1 connected to another hub", func() bool { return leaves[0].NumLeafs() == 1 })

	n = len(sent)
	publish(js1, "leaf-1", 20)
	publish(js2, "leaf-2", 20)
	readBack(r1, "read on leaf-1 after losing a hub")
	durableGets(n, 60*time.Second)
	casRound("leaf-1")
}

func TestLeafOptionsRefused(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct {
		o    ServerOptions
		want string
	}{
		"leaf listener without leaf users": {ServerOptions{Port: -1, StoreDir: dir, LeafPort: -1}, "needs leaf users"},
		"leaf remotes without auth":        {ServerOptions{Port: -1, NoJetStream: true, LeafRemotes: []string{"nats-leaf://127.0.0.1:1"}}, "leaf user and password"},
		"leaf remotes with JetStream": {ServerOptions{Port: -1, StoreDir: dir, LeafRemotes: []string{"nats-leaf://127.0.0.1:1"},
			LeafUser: "l", LeafPassword: "p"}, "without JetStream"},
		"bad leaf scheme": {ServerOptions{Port: -1, NoJetStream: true, LeafRemotes: []string{"http://127.0.0.1:1"},
			LeafUser: "l", LeafPassword: "p"}, "leaf remotes[0]"},
		"leaf remote without host": {ServerOptions{Port: -1, NoJetStream: true, LeafRemotes: []string{"nats-leaf://"},
			LeafUser: "l", LeafPassword: "p"}, "no host:port"},
	} {
		c.o.Users = []User{{Identity: testAdmin}}
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
	// Without JetStream, no store directory is needed.
	s, err := StartServer(ServerOptions{Name: "leaf", Port: -1, NoJetStream: true, Users: []User{{Identity: testAdmin}}})
	if err != nil {
		t.Fatal(err)
	}
	s.Shutdown()
}
