package alerts

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/natsbus"
)

// natsNode is one embedded server (JetStream) with its node's agent and
// reader connected, as on a node running `kuma-agent alerts`.
type natsNode struct {
	agentNC, readerNC *nats.Conn
	agent, reader     jetstream.JetStream
}

func startNATSNode(t *testing.T) natsNode {
	t.Helper()
	const node, cluster = "core-1", "prod"
	key := natsbus.NodeKey([]byte("secret"), node)
	scope := natsbus.Scope{Cluster: cluster, Node: node}
	s, err := natsbus.StartServer(natsbus.ServerOptions{Name: node, Port: -1, StoreDir: t.TempDir(), Users: natsbus.NodeUsers(key, scope)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	conn := func(r natsbus.Role) (*nats.Conn, jetstream.JetStream) {
		id := natsbus.IdentityOf(key, node, r)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		nc, err := natsbus.Connect(ctx, natsbus.ClientOptions{URL: s.ClientURL(), User: id.User, Password: id.Password,
			InboxPrefix: id.InboxPrefix, Logger: discardLog()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return nc, js
	}
	var n natsNode
	n.agentNC, n.agent = conn(natsbus.RoleAgent)
	n.readerNC, n.reader = conn(natsbus.RoleReader)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := natsbus.EnsureStream(ctx, n.agent, natsbus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n natsNode) publish(t *testing.T, e events.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := natsbus.Publish(ctx, n.agent, e); err != nil {
		t.Fatal(err)
	}
}

// republish sends e again as a plain message, as an agent whose
// publish was not acknowledged does (the stream stores it once).
func (n natsNode) republish(t *testing.T, e events.Event) {
	t.Helper()
	b, _ := json.Marshal(e)
	if err := n.agentNC.Publish(events.SubjectOf(e), b); err != nil {
		t.Fatal(err)
	}
}

// subscriber is `kuma-agent alerts`' source, as the command builds it.
func (n natsNode) subscriber(durable string) *Paths {
	q := natsbus.Query{Cluster: "prod", Logger: discardLog()}
	return &Paths{
		Live:    LiveSource{Conn: n.readerNC, Live: natsbus.Live{Query: q}},
		Durable: DurableSource{JS: n.reader, Durable: natsbus.Durable{Name: durable, Query: q, MaxAckPending: 128}},
		Log:     discardLog(),
	}
}

// TestPathsOnNATS: on a real server, with both paths, each event alerts
// once (its live and durable copies, and an agent's re-publish); events
// published while the subscriber is down alert once when it is back, and
// those it handled before do not come again.
func TestPathsOnNATS(t *testing.T) {
	n := startNATSNode(t)
	hook := newHookRecorder(t)
	ev := func(i int) events.Event {
		e, err := events.New("prod", "core-1", events.MemberFailed, "m", events.SeverityCritical,
			events.MemberData{Member: "core-2", Status: "failed"}, time.Now().Add(time.Duration(i)))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	run := func() (*Paths, func()) {
		p := n.subscriber("alerts-core-1")
		stop := runAlerter(hook, p)
		return p, func() {
			if err := stop(); err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	settledAll := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := n.reader.Consumer(ctx, natsbus.DefaultStreamName, "alerts-core-1")
		if err != nil {
			return false
		}
		ci, err := c.Info(ctx)
		return err == nil && ci.NumPending == 0 && ci.NumAckPending == 0
	}
	gotOnce := func(want []events.Event) {
		t.Helper()
		waitFor(t, "every event alerted", func() bool { return len(hook.got()) >= len(want) })
		waitFor(t, "every durable copy acknowledged", settledAll)
		time.Sleep(200 * time.Millisecond) // room for a duplicate to show
		got := hook.got()
		if len(got) != len(want) {
			t.Fatalf("alerted %d times (%v), want %d", len(got), got, len(want))
		}
		seen := map[string]bool{}
		for _, id := range got {
			seen[id] = true
		}
		for _, e := range want {
			if !seen[e.ID] {
				t.Fatalf("%s never alerted (got %v)", e.ID, got)
			}
		}
	}

	p, stop := run()
	// Wait until both paths are up: the durable exists and the live
	// subscription takes the first event.
	waitFor(t, "the durable consumer", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := n.reader.Consumer(ctx, natsbus.DefaultStreamName, "alerts-core-1")
		return err == nil
	})
	first := []events.Event{ev(1), ev(2), ev(3)}
	for _, e := range first {
		n.publish(t, e)
	}
	n.republish(t, first[0])
	gotOnce(first)
	if p.Duplicates.Load() < 4 { // each event's second copy, and the re-publish
		t.Errorf("duplicates %d, want at least 4", p.Duplicates.Load())
	}
	stop()

	// Down: two more events. Back: they alert once, the first three not again.
	more := []events.Event{ev(4), ev(5)}
	for _, e := range more {
		n.publish(t, e)
	}
	_, stop = run()
	defer stop()
	gotOnce(append(first, more...))
	last := ev(6)
	n.publish(t, last)
	n.republish(t, last)
	gotOnce(append(append(first, more...), last))
}
