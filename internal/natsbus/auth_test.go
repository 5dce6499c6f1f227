package natsbus

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/lease"
)

// The attacks of "the embedded NATS client port has no authentication",
// each tried on real embedded servers as no identity, as an identity of
// the wrong role and as another node's identity, and each refused; what
// each role is for still works.

// startNodeServer is node's embedded server as the agent runs it alone:
// JetStream, node's agent and reader, and users (other nodes'), nobody
// else (no test admin).
func startNodeServer(t *testing.T, node string, users ...User) *Server {
	t.Helper()
	s, err := StartServer(ServerOptions{Name: node, Port: -1, StoreDir: t.TempDir(), Logger: serverTestLog(),
		Users: append(nodeUsers(node), users...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// refused: err is the refusal of what; it is logged, so a failure says why.
func refused(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: allowed, want refused", what)
		return
	}
	t.Logf("%s: refused: %v", what, err)
}

// short is a context for an attempt that is refused (no answer comes, or
// a permissions violation).
func short(t *testing.T) context.Context { return ctxT(t, 2*time.Second) }

// client is a connection whose permissions violations (which the server
// reports asynchronously) are collected.
type client struct {
	nc         *nats.Conn
	js         jetstream.JetStream
	violations chan error
}

func clientAs(t *testing.T, url string, id Identity) client {
	t.Helper()
	nc, js := connectAs(t, url, id)
	c := client{nc: nc, js: js, violations: make(chan error, 64)}
	nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			select {
			case c.violations <- err:
			default:
			}
		}
	})
	return c
}

// deny runs op and wants the server to refuse it for a permissions
// violation (op itself would only time out waiting for an answer).
func (c client) deny(t *testing.T, what string, op func(ctx context.Context) error) {
	t.Helper()
	for len(c.violations) > 0 {
		<-c.violations
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- op(ctx) }()
	select {
	case v := <-c.violations:
		cancel()
		<-done
		t.Logf("%s: refused: %v", what, v)
	case err := <-done:
		if err == nil {
			t.Errorf("%s: allowed, want refused", what)
			return
		}
		select { // the violation may come just after the failure it caused
		case v := <-c.violations:
			t.Logf("%s: refused: %v", what, v)
		case <-time.After(time.Second):
			t.Errorf("%s: failed with %v, but the server reported no permissions violation", what, err)
		}
	}
}

// TestRawConnectWithoutCredentialsRefused is the reproduction of the
// finding: a local user writes the heal lease with a bare CONNECT {} on
// the client port. The server answers Authorization Violation and closes.
func TestRawConnectWithoutCredentialsRefused(t *testing.T) {
	s := startNodeServer(t, "core-1")
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.ClientURL(), "nats://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	info, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(info, "INFO ") || !strings.Contains(info, `"auth_required":true`) {
		t.Fatalf("INFO %q, %v: want auth_required", info, err)
	}
	rec := `{"holder":"ghost","purpose":"heal","expires":"2099-01-01T00:00:00Z","acquired":"2026-01-01T00:00:00Z"}`
	fmt.Fprintf(c, "CONNECT {}\r\nPUB $KV.kuma_leases.heal %d\r\n%s\r\nPING\r\n", len(rec), rec)
	line, _ := r.ReadString('\n')
	if !strings.Contains(line, "Authorization Violation") {
		t.Fatalf("answer %q, want -ERR 'Authorization Violation'", line)
	}
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("the connection stays open after the violation")
	}
}

// TestClientsAuthenticate: no credentials, a wrong password, another
// server's password, and a leaf identity used as a client are refused;
// each of the node's identities connects.
func TestClientsAuthenticate(t *testing.T) {
	s := startNodeServer(t, "core-1", leafUsers("collector-1")...)
	conn := func(o ClientOptions) error {
		o.URL, o.Logger = s.ClientURL(), quietLog
		nc, err := Connect(short(t), o)
		if err == nil {
			nc.Close()
		}
		return err
	}
	agent := testID("core-1", RoleAgent)
	refused(t, "no credentials", conn(ClientOptions{}))
	refused(t, "wrong password", conn(ClientOptions{User: agent.User, Password: "wrong"}))
	other := IdentityOf(NodeKey([]byte("another cluster's secret"), "core-1"), "core-1", RoleAgent)
	refused(t, "another cluster's key", conn(ClientOptions{User: other.User, Password: other.Password}))
	leaf := testID("collector-1", RoleLeaf)
	refused(t, "a leaf identity as a client", conn(ClientOptions{User: leaf.User, Password: leaf.Password}))
	for _, r := range []Role{RoleAgent, RoleReader} {
		id := testID("core-1", r)
		if err := conn(ClientOptions{User: id.User, Password: id.Password, InboxPrefix: id.InboxPrefix}); err != nil {
			t.Errorf("%s: %v", r, err)
		}
	}
}

// noMesh is a Liveness where nobody failed.
type noMesh struct{}

func (noMesh) Failed(string) bool { return false }

// TestIdentitiesDoOnlyTheirRole: on one node's server, the agent publishes
// its own events and holds the heal lease; then every forbidden write is
// tried (events as another node, a forged lease, purging or deleting the
// stream or the bucket, a new stream, deleting a consumer, reading another
// identity's replies) and refused, and the stream and the lease are as the
// agent left them. The reader reads, with its own consumers.
func TestIdentitiesDoOnlyTheirRole(t *testing.T) {
	s := startNodeServer(t, "core-1", nodeUsers("core-2")...)
	agent := clientAs(t, s.ClientURL(), testID("core-1", RoleAgent))
	reader := clientAs(t, s.ClientURL(), testID("core-1", RoleReader))
	agent2 := clientAs(t, s.ClientURL(), testID("core-2", RoleAgent))
	ctx := ctxT(t, 60*time.Second)

	if _, err := EnsureStream(ctx, agent.js, StreamOptions{}); err != nil {
		t.Fatalf("the agent creates the stream: %v", err)
	}
	own := testEvent(t, testCluster, "core-1", events.MemberFailed, 1, time.Now())
	if err := Publish(ctx, agent.js, own); err != nil {
		t.Fatalf("the agent publishes its own event: %v", err)
	}
	m, err := lease.New(ctx, agent.js, lease.Options{Node: "core-1", Liveness: noMesh{}, TTL: time.Minute})
	if err != nil {
		t.Fatalf("the agent makes the lease bucket: %v", err)
	}
	if _, err := m.Acquire(ctx, "heal"); err != nil {
		t.Fatalf("the agent takes the heal lease: %v", err)
	}

	// Events as another node: by the agent of core-1 (the member.failed
	// "from" core-2 that fired the alerts command), in another cluster, by
	// the reader, and by core-2's agent as core-1.
	publish := func(c client, cluster, node string) func(context.Context) error {
		return func(ctx context.Context) error {
			return Publish(ctx, c.js, testEvent(t, cluster, node, events.MemberFailed, 2, time.Now()))
		}
	}
	agent.deny(t, "core-1's agent publishes as core-2", publish(agent, testCluster, "core-2"))
	agent.deny(t, "core-1's agent publishes in another cluster", publish(agent, "other", "core-1"))
	reader.deny(t, "the reader publishes an event", publish(reader, testCluster, "core-1"))
	agent2.deny(t, "core-2's agent publishes as core-1", publish(agent2, testCluster, "core-1"))

	// A forged heal lease (holder "ghost", expiring 2099) by the reader.
	rec := []byte(`{"holder":"ghost","purpose":"heal","expires":"2099-01-01T00:00:00Z","acquired":"2026-01-01T00:00:00Z"}`)
	reader.deny(t, "the reader writes $KV.kuma_leases.heal", func(ctx context.Context) error {
		_, err := reader.js.Publish(ctx, "$KV."+LeaseBucket+".heal", rec)
		return err
	})
	reader.deny(t, "the reader opens the lease bucket", func(ctx context.Context) error {
		_, err := reader.js.KeyValue(ctx, LeaseBucket)
		return err
	})

	// Streams and buckets: only the agents create and update them, and
	// nobody purges or deletes them or makes others.
	for _, c := range []struct {
		who string
		c   client
	}{{"agent", agent}, {"reader", reader}} {
		js := c.c.js
		c.c.deny(t, c.who+" purges KUMA_EVENTS", func(ctx context.Context) error { return purge(ctx, js, DefaultStreamName) })
		c.c.deny(t, c.who+" deletes KUMA_EVENTS", func(ctx context.Context) error { return js.DeleteStream(ctx, DefaultStreamName) })
		c.c.deny(t, c.who+" purges the lease bucket", func(ctx context.Context) error { return purge(ctx, js, "KV_"+LeaseBucket) })
		c.c.deny(t, c.who+" deletes the lease bucket", func(ctx context.Context) error { return js.DeleteKeyValue(ctx, LeaseBucket) })
		c.c.deny(t, c.who+" creates a stream", func(ctx context.Context) error {
			_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FILL", Subjects: []string{"fill.>"}, Replicas: 1})
			return err
		})
		c.c.deny(t, c.who+" creates a bucket", func(ctx context.Context) error {
			_, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "fill"})
			return err
		})
	}
	reader.deny(t, "the reader updates KUMA_EVENTS to unlimited", func(ctx context.Context) error {
		_, err := reader.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: DefaultStreamName, Subjects: DefaultSubjects, MaxBytes: -1})
		return err
	})

	// The reader reads with its own consumers: ordered, and durable.
	got := readAll(t, reader.js, DefaultStreamName, Query{})
	if len(got) != 1 || got[0].ID != own.ID {
		t.Fatalf("the stream holds %v, want only the agent's own event %s", ids(got), own.ID)
	}
	d := startDurable(t, reader.js, Durable{Name: "kuma-alerts-core-1"}, func(_ events.Event, s Settle) { s(true) })
	eventually(t, 10*time.Second, "the reader's durable consumer", func() bool {
		_, err := reader.js.Consumer(short(t), DefaultStreamName, "kuma-alerts-core-1")
		return err == nil
	})
	next := testEvent(t, testCluster, "core-1", events.CheckStatusChanged, 6, time.Now())
	if err := Publish(ctx, agent.js, next); err != nil {
		t.Fatal(err)
	}
	if e := d.next(t); e.ID != next.ID {
		t.Fatalf("the durable consumer delivered %s, want %s", e.ID, next.ID)
	}
	for _, c := range []struct {
		who string
		c   client
	}{{"reader", reader}, {"agent", agent}} {
		c.c.deny(t, "the "+c.who+" deletes a consumer", func(ctx context.Context) error {
			return c.c.js.DeleteConsumer(ctx, DefaultStreamName, "kuma-alerts-core-1")
		})
	}
	agent.deny(t, "the agent reads the stream", func(ctx context.Context) error {
		_, err := agent.js.OrderedConsumer(ctx, DefaultStreamName, jetstream.OrderedConsumerConfig{})
		return err
	})

	// Nobody subscribes outside its inbox (the reader: and its cluster's
	// events): not to all events, not to another identity's replies (where
	// a forged acknowledgement would go).
	for _, c := range []struct {
		c    client
		who  string
		subj string
	}{
		{reader, "the reader", "kuma.>"},
		{reader, "the reader", "kuma.other.>"}, // another cluster's events
		{reader, "the reader", InboxPrefix("core-1", RoleAgent) + ".>"},
		{agent2, "core-2's agent", InboxPrefix("core-1", RoleAgent) + ".>"},
		{agent2, "core-2's agent", "$KV.>"},
	} {
		c.c.deny(t, c.who+" subscribes to "+c.subj, func(context.Context) error {
			sub, err := c.c.nc.SubscribeSync(c.subj)
			if err != nil {
				return err
			}
			defer sub.Unsubscribe()
			_, err = sub.NextMsg(2 * time.Second)
			return err
		})
	}

	// What the agent left is intact.
	rec2, _, ok, err := m.Holder(ctx, "heal")
	if err != nil || !ok || rec2.Holder != "core-1" {
		t.Fatalf("heal lease: %+v %v %v; want held by core-1", rec2, ok, err)
	}
	if st, err := agent.js.Stream(ctx, DefaultStreamName); err != nil || st.CachedInfo().State.Msgs != 2 {
		t.Fatalf("KUMA_EVENTS: %v; want the agent's 2 events", err)
	}
	d.stop()
}

// purge purges stream through js.
func purge(ctx context.Context, js jetstream.JetStream, stream string) error {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	return st.Purge(ctx)
}

func ids(es []events.Event) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Node()+"/"+e.ID)
	}
	return out
}

// TestLeafIdentityCannotActAsAnotherNode: a hub and two leaf nodes. On
// leaf-1 its agent publishes its own events through the hub and is refused
// leaf-2's subjects. Then a rogue server for leaf-1 (its local clients
// unrestricted, as root on leaf-1 could run) connects with leaf-1's leaf
// identity: the hub still lets it do only what leaf-1's identities may —
// no events as leaf-2 or the hub, no purge, no new stream. A leaf
// connection with a client identity, or with a wrong password, is refused,
// as is a client with a leaf identity.
func TestLeafIdentityCannotActAsAnotherNode(t *testing.T) {
	leafPort := freePort(t)
	hubURL := fmt.Sprintf("nats-leaf://127.0.0.1:%d", leafPort)
	hub := startTestServer(t, ServerOptions{Name: "hub-1", Logger: serverTestLog(), LeafPort: leafPort,
		Users: append(nodeUsers("hub-1"), leafUsers("leaf-1", "leaf-2")...)})
	leaf1 := startLeaf(t, "leaf-1", "127.0.0.2", []string{hubURL}, testID("leaf-1", RoleLeaf), nil)
	leaf2 := startLeaf(t, "leaf-2", "127.0.0.3", []string{hubURL}, testID("leaf-2", RoleLeaf), nil)
	eventually(t, 20*time.Second, "both leaf nodes connected", func() bool {
		return leaf1.NumLeafs() == 1 && leaf2.NumLeafs() == 1 && hub.NumLeafs() == 2
	})
	ctx := ctxT(t, 120*time.Second)
	_, hubAgent := connectAs(t, hub.ClientURL(), testID("hub-1", RoleAgent))
	_, hubReader := connectAs(t, hub.ClientURL(), testID("hub-1", RoleReader))
	if _, err := EnsureStream(ctx, hubAgent, StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	agent1 := clientAs(t, leaf1.ClientURL(), testID("leaf-1", RoleAgent))
	var want []string
	publishOK := func(js jetstream.JetStream, node string, i int) {
		t.Helper()
		e := testEvent(t, testCluster, node, events.CheckStatusChanged, i, time.Now())
		eventually(t, 20*time.Second, node+"'s own event stored through the hub", func() bool {
			return Publish(short(t), js, e) == nil
		})
		want = append(want, e.ID)
	}
	publishOK(agent1.js, "leaf-1", 1)
	for _, node := range []string{"leaf-2", "hub-1"} {
		agent1.deny(t, "leaf-1's agent publishes as "+node, func(ctx context.Context) error {
			return Publish(ctx, agent1.js, testEvent(t, testCluster, node, events.MemberFailed, 2, time.Now()))
		})
	}

	// A rogue leaf-1 server: same leaf identity, no local restrictions.
	leaf1.Shutdown()
	var rogueLog logBuffer
	rogue := startTestServer(t, ServerOptions{Name: "rogue-leaf-1", Host: "127.0.0.4", NoJetStream: true,
		Logger: rogueLog.Logger(), LeafRemotes: []string{hubURL},
		LeafUser: testID("leaf-1", RoleLeaf).User, LeafPassword: testID("leaf-1", RoleLeaf).Password})
	eventually(t, 20*time.Second, "the rogue leaf-1 connected", func() bool { return rogue.NumLeafs() == 1 })
	// Unrestricted on the rogue server; the hub sends it the replies to
	// leaf-1's agent's inbox only.
	_, admin := connectAs(t, rogue.ClientURL(), Identity{User: testAdmin.User, Password: testAdmin.Password,
		InboxPrefix: InboxPrefix("leaf-1", RoleAgent)})
	publishOK(admin, "leaf-1", 4) // leaf-1's own subjects still work
	refused(t, "rogue leaf-1 publishes as leaf-2", Publish(short(t), admin, testEvent(t, testCluster, "leaf-2", events.MemberFailed, 5, time.Now())))
	refused(t, "rogue leaf-1 publishes as the hub", Publish(short(t), admin, testEvent(t, testCluster, "hub-1", events.MemberFailed, 6, time.Now())))
	refused(t, "rogue leaf-1 purges KUMA_EVENTS", purge(short(t), admin, DefaultStreamName))
	refused(t, "rogue leaf-1 deletes KUMA_EVENTS", admin.DeleteStream(short(t), DefaultStreamName))
	_, err := admin.CreateStream(short(t), jetstream.StreamConfig{Name: "FILL", Subjects: []string{"fill.>"}})
	refused(t, "rogue leaf-1 creates a stream", err)
	// Replies to leaf-2's reader, and its deliveries, do not reach it.
	rnc, _ := connectTest(t, rogue.ClientURL())
	sub, err := rnc.SubscribeSync(InboxPrefix("leaf-2", RoleReader) + ".>")
	if err != nil {
		t.Fatal(err)
	}
	if err := rnc.Flush(); err != nil {
		t.Fatal(err)
	}
	_, reader2 := connectAs(t, leaf2.ClientURL(), testID("leaf-2", RoleReader))
	if got := readAll(t, reader2, DefaultStreamName, Query{}); len(got) != len(want) {
		t.Fatalf("leaf-2's reader read %d events, want %d", len(got), len(want))
	}
	if m, err := sub.NextMsg(time.Second); err == nil {
		t.Errorf("rogue leaf-1 got leaf-2's reader's message on %s", m.Subject)
	}

	got := readAll(t, hubReader, DefaultStreamName, Query{})
	if gotIDs := eventIDs(got); !slices.Equal(gotIDs, want) {
		t.Fatalf("the stream holds %v, want leaf-1's own %v", ids(got), want)
	}

	// Identities in the wrong place.
	var wrongLog logBuffer
	agentAsLeaf := testID("leaf-2", RoleAgent)
	w := startTestServer(t, ServerOptions{Name: "wrong", Host: "127.0.0.5", NoJetStream: true, Logger: wrongLog.Logger(),
		LeafRemotes: []string{hubURL}, LeafUser: agentAsLeaf.User, LeafPassword: agentAsLeaf.Password})
	eventually(t, 20*time.Second, "a leaf connection with a client identity refused", func() bool {
		return wrongLog.Contains("Authorization Violation")
	})
	if w.NumLeafs() != 0 {
		t.Fatal("a leaf connection with a client identity was accepted")
	}
	leafAsClient := testID("leaf-2", RoleLeaf)
	_, err = Connect(short(t), ClientOptions{URL: hub.ClientURL(), User: leafAsClient.User, Password: leafAsClient.Password, Logger: quietLog})
	refused(t, "a client with a leaf identity on the hub", err)
}

func eventIDs(es []events.Event) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

// TestReadersDropForgedEvents: an event whose source is not the node of its
// subject (published by a user the server does not restrict: an external
// NATS without the permissions, or a bug) is dropped by Read and by
// ReadDurable, counted and logged; the genuine one around it is delivered.
func TestReadersDropForgedEvents(t *testing.T) {
	s := startTestServer(t, ServerOptions{Name: "n1", Users: nodeUsers("core-1")})
	_, admin := connectTest(t, s.ClientURL())
	_, reader := connectAs(t, s.ClientURL(), testID("core-1", RoleReader))
	ctx := ctxT(t, 30*time.Second)
	if _, err := EnsureStream(ctx, admin, StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	var forgedN atomic.Uint64
	q := Query{Logger: logs.Logger(), Forged: &forgedN}
	d := startDurable(t, reader, Durable{Name: "alerts", Query: q}, func(_ events.Event, s Settle) { s(true) })
	eventually(t, 10*time.Second, "the durable consumer", func() bool {
		_, err := reader.Consumer(short(t), DefaultStreamName, "alerts")
		return err == nil
	})

	good := testEvent(t, testCluster, "core-1", events.CheckStatusChanged, 1, time.Now())
	forged := testEvent(t, testCluster, "core-2", events.MemberFailed, 2, time.Now())
	m, err := Msg(forged)
	if err != nil {
		t.Fatal(err)
	}
	m.Subject = events.Subject(testCluster, "core-1", events.MemberFailed) // core-2's event on core-1's subject
	if _, err := admin.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := Publish(ctx, admin, good); err != nil {
		t.Fatal(err)
	}
	if e := d.next(t); e.ID != good.ID {
		t.Fatalf("the durable consumer delivered %s (%s), want the genuine %s", e.ID, e.Source, good.ID)
	}
	d.none(t, reader, "alerts")
	if forgedN.Load() != 1 || !logs.Contains("forged event dropped") || !logs.Contains(forged.ID) {
		t.Fatalf("durable: %d forged counted; log:\n%s", forgedN.Load(), logs.String())
	}
	got := readAll(t, reader, DefaultStreamName, q)
	if len(got) != 1 || got[0].ID != good.ID || forgedN.Load() != 2 {
		t.Fatalf("Read delivered %v, counted %d forged; want only %s and 2", ids(got), forgedN.Load(), good.ID)
	}
	if err := CheckOrigin(events.SubjectOf(good), good); err != nil {
		t.Fatal(err)
	}
}

// TestIdentitiesDerived: each node's and role's identity differs, is the
// same from the same secret, and another secret gives others.
func TestIdentitiesDerived(t *testing.T) {
	seen := map[string]string{}
	for _, node := range []string{"core-1", "core-2", "core-1.example.com"} {
		for _, r := range []Role{RoleAgent, RoleReader, RoleLeaf} {
			id := testID(node, r)
			if again := testID(node, r); again != id {
				t.Fatalf("%s %s: not deterministic", node, r)
			}
			if prev, ok := seen[id.Password]; ok {
				t.Fatalf("%s %s has the password of %s", node, r, prev)
			}
			seen[id.Password] = node + " " + string(r)
			if !strings.Contains(id.User, string(r)) || !strings.HasSuffix(id.User, "@"+node) || len(id.Password) < 40 {
				t.Errorf("identity %+v", id)
			}
			if other := IdentityOf(NodeKey([]byte("other secret"), node), node, r); other.Password == id.Password {
				t.Fatalf("%s %s: same password from another secret", node, r)
			}
		}
	}
	if LeaseBucket != lease.DefaultBucket {
		t.Fatalf("the agents' bucket is %q, the lease's %q", LeaseBucket, lease.DefaultBucket)
	}
	b, _ := json.Marshal(testID("core-1", RoleReader))
	if !strings.Contains(string(b), `"inbox_prefix":"_INBOX.kuma.reader.core-1"`) {
		t.Fatalf("identity JSON %s", b)
	}
}

// TestHubRefusesALeafSendingAsAnotherNode speaks the leafnode protocol to
// a hub directly, as a modified server with leaf-1's leaf identity could,
// ignoring the permissions the hub sent it: the hub itself refuses a
// message on leaf-2's subject and cuts the connection; one on leaf-1's own
// subject passes.
func TestHubRefusesALeafSendingAsAnotherNode(t *testing.T) {
	leafPort := freePort(t)
	startTestServer(t, ServerOptions{Name: "hub-1", Logger: serverTestLog(), LeafPort: leafPort,
		Users: append(nodeUsers("hub-1"), leafUsers("leaf-1", "leaf-2")...)})
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", leafPort), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("hub's INFO: %q %v", line, err)
	}
	id := testID("leaf-1", RoleLeaf)
	connect, _ := json.Marshal(map[string]any{"user": id.User, "pass": id.Password, "server_id": "NROGUELEAF1",
		"name": "rogue-leaf-1", "headers": true, "compress_mode": "off"})
	fmt.Fprintf(c, "CONNECT %s\r\nPING\r\n", connect)
	until := func(want string) string {
		t.Helper()
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("waiting for %q: %v", want, err)
			}
			if strings.HasPrefix(line, "PING") {
				fmt.Fprint(c, "PONG\r\n")
			}
			if strings.Contains(line, want) {
				return line
			}
			if strings.HasPrefix(line, "-ERR") {
				t.Fatalf("waiting for %q: %s", want, line)
			}
		}
	}
	until("PONG")
	own := events.Subject(testCluster, "leaf-1", events.CheckStatusChanged)
	fmt.Fprintf(c, "LMSG %s 2\r\n{}\r\nPING\r\n", own)
	until("PONG") // no violation for its own subject
	forged := events.Subject(testCluster, "leaf-2", events.MemberFailed)
	fmt.Fprintf(c, "LMSG %s 2\r\n{}\r\nPING\r\n", forged)
	line := until("-ERR")
	if !strings.Contains(line, "Permissions Violation for Publish to \""+forged+"\"") {
		t.Fatalf("hub answered %q", line)
	}
	t.Logf("the hub answered %s", strings.TrimSpace(line))
	for {
		if _, err := r.ReadString('\n'); err != nil {
			break // closed by the hub
		}
	}
}
