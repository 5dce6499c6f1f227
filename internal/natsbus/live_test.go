package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// liveRun is a ReadLive in the background, its events on got.
type liveRun struct {
	got    chan events.Event
	cancel context.CancelFunc
	done   chan error
}

func startLive(t *testing.T, nc *nats.Conn, l Live, handle func(events.Event)) *liveRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &liveRun{got: make(chan events.Event, 1000), cancel: cancel, done: make(chan error, 1)}
	if l.Query.Logger == nil {
		l.Query.Logger = quietLog
	}
	// Publishing before the server has the subscriptions would lose the
	// events: wait for them (or for ReadLive failing first).
	subscribed := make(chan struct{})
	l.Subscribed = func() { close(subscribed) }
	go func() {
		r.done <- ReadLive(ctx, nc, l, func(e events.Event) error {
			if handle != nil {
				handle(e)
			}
			r.got <- e
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-r.done; err != nil {
			t.Errorf("ReadLive: %v", err)
		}
	})
	select {
	case <-subscribed:
	case err := <-r.done:
		r.done <- err // for the cleanup
		t.Fatalf("ReadLive returned before subscribing: %v", err)
	}
	return r
}

// corePublish sends e on its subject as a plain core-NATS message: what
// reaches core subscribers of a JetStream publish whether or not the
// stream stores it.
func corePublish(t *testing.T, nc *nats.Conn, e events.Event) {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(events.SubjectOf(e), b); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// waitLive publishes events from publish until the live reader gets one of
// them (interest takes a moment to travel from a leaf node through the
// hubs), then returns it.
func waitLive(t *testing.T, r *liveRun, what string, publish func(i int) events.Event) events.Event {
	t.Helper()
	sent := map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		sent[publish(i).ID] = true
		select {
		case e := <-r.got:
			if !sent[e.ID] {
				t.Fatalf("%s: live reader got %s, which was not sent", what, e.ID)
			}
			return e
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatalf("%s: the live reader got none of %d events within 20 s", what, len(sent))
	return events.Event{}
}

// TestLiveEventsThroughLeafNodesWithoutConsumerLeader: a reader on a leaf
// node gets, on its live subscription, the events another leaf node's and
// a hub's agents publish (through the hubs: the leaf connections relay the
// interest and the messages, within the leaf identities' permissions); and
// it still gets them when the durable consumer has no leader at all (two
// of three hubs lost, among them the consumer's leader), where the durable
// consumer delivers nothing until a leader is elected.
func TestLiveEventsThroughLeafNodesWithoutConsumerLeader(t *testing.T) {
	hubs, leafURLs := startHubs(t, 3, "leaf-1", "leaf-2")
	leaves := []*Server{
		startLeaf(t, "leaf-1", "127.0.0.2", leafURLs, testID("leaf-1", RoleLeaf), nil),
		startLeaf(t, "leaf-2", "127.0.0.3", leafURLs, testID("leaf-2", RoleLeaf), nil),
	}
	eventually(t, 20*time.Second, "both leaf nodes connected to a hub", func() bool {
		return leaves[0].NumLeafs() == 1 && leaves[1].NumLeafs() == 1
	})
	a1nc, a1 := connectAs(t, leaves[0].ClientURL(), testID("leaf-1", RoleAgent))
	rnc, r2 := connectAs(t, leaves[1].ClientURL(), testID("leaf-2", RoleReader))
	ctx := ctxT(t, 180*time.Second)
	eventually(t, 30*time.Second, "an R3 stream created from leaf-1", func() bool {
		ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := EnsureStream(ectx, a1, StreamOptions{Replicas: ReplicasFor(len(hubs))})
		return err == nil
	})
	q := Query{Cluster: testCluster}
	d := startDurable(t, r2, Durable{Name: "alerts-leaf-2", Query: q}, func(_ events.Event, s Settle) { s(true) })
	var leader string
	eventually(t, 30*time.Second, "the durable consumer with a leader", func() bool {
		l, err := consumerLeader(ctx, r2, "alerts-leaf-2", 3*time.Second)
		leader = l
		return err == nil && leader != ""
	})
	live := startLive(t, rnc, Live{Query: q}, nil)

	// From leaf-1's agent, through the hubs, to leaf-2's reader: a
	// JetStream publish is a core message too.
	got := waitLive(t, live, "leaf-1's JetStream publishes", func(i int) events.Event {
		e := testEvent(t, testCluster, "leaf-1", events.CheckStatusChanged, i, time.Now())
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := Publish(pctx, a1, e); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		return e
	})
	for e := d.next(t); e.ID != got.ID; e = d.next(t) { // the durable has it too
	}
	// From a hub's agent.
	hnc, _ := connectAs(t, hubs[0].ClientURL(), testID("hub-1", RoleAgent))
	waitLive(t, live, "hub-1's publishes", func(i int) events.Event {
		e := testEvent(t, testCluster, "hub-1", events.CheckStatusChanged, 100+i, time.Now())
		corePublish(t, hnc, e)
		return e
	})

	// Lose the consumer's leader and one more hub: the consumer (R3) has
	// no quorum, so no leader, and the durable delivers nothing.
	li := -1
	for i := range hubs {
		if fmt.Sprintf("hub-%d", i+1) == leader {
			li = i
		}
	}
	if li < 0 {
		t.Fatalf("consumer leader %q is no hub", leader)
	}
	other := (li + 1) % len(hubs)
	hubs[li].Shutdown()
	hubs[other].Shutdown()
	down := []string{leader, fmt.Sprintf("hub-%d", other+1)}
	t.Logf("consumer leader %s; shut down %v", leader, down)
	eventually(t, 30*time.Second, "both leaf nodes on the last hub", func() bool {
		return leaves[0].NumLeafs() == 1 && leaves[1].NumLeafs() == 1
	})
	// A leader that handed over on its shutdown leaves a successor that
	// believes in itself until it misses its quorum.
	eventually(t, 60*time.Second, "the consumer without a leader", func() bool {
		l, err := consumerLeader(ctx, r2, "alerts-leaf-2", 2*time.Second)
		return err != nil || l == ""
	})
	for len(live.got) > 0 {
		<-live.got
	}
	got = waitLive(t, live, "leaf-1's events with the consumer leaderless", func(i int) events.Event {
		e := testEvent(t, testCluster, "leaf-1", events.MemberFailed, 200+i, time.Now())
		corePublish(t, a1nc, e)
		return e
	})
	if got.Type != events.TypePrefix+string(events.MemberFailed) {
		t.Fatalf("live got %s", got.Type)
	}
}

// TestLiveDropsForgedEvents: on the live path too, an event whose source is
// not the node of its subject is dropped, counted and logged.
func TestLiveDropsForgedEvents(t *testing.T) {
	s := startTestServer(t, ServerOptions{Name: "core-1", Users: nodeUsers("core-1"), NoJetStream: true})
	admin, _ := connectTest(t, s.ClientURL())
	rnc, _ := connectAs(t, s.ClientURL(), testID("core-1", RoleReader))
	var logs logBuffer
	var forged atomic.Uint64
	live := startLive(t, rnc, Live{Query: Query{Cluster: testCluster, Logger: logs.Logger(), Forged: &forged}}, nil)

	// An unrestricted user puts core-2's event on core-1's subject.
	bad := testEvent(t, testCluster, "core-2", events.MemberFailed, 1, time.Now())
	b, _ := json.Marshal(bad)
	good := testEvent(t, testCluster, "core-1", events.MemberFailed, 2, time.Now())
	waitLive(t, live, "a genuine event after a forged one", func(int) events.Event {
		if err := admin.Publish(events.Subject(testCluster, "core-1", bad.ShortType()), b); err != nil {
			t.Fatal(err)
		}
		corePublish(t, admin, good)
		return good
	})
	if forged.Load() == 0 || !logs.Contains("forged event dropped") || !logs.Contains(bad.ID) {
		t.Fatalf("forged count %d; log:\n%s", forged.Load(), logs.String())
	}
	select {
	case e := <-live.got:
		if e.ID == bad.ID {
			t.Fatal("the forged event was delivered")
		}
	default:
	}
}

// TestLiveCountsSlowSubscriberDrops: what the client drops for a slow
// subscriber is counted and logged: every event published is either
// delivered or counted as dropped.
func TestLiveCountsSlowSubscriberDrops(t *testing.T) {
	s := startTestServer(t, ServerOptions{Name: "core-1", Users: nodeUsers("core-1"), NoJetStream: true})
	admin, _ := connectTest(t, s.ClientURL())
	rnc, _ := connectAs(t, s.ClientURL(), testID("core-1", RoleReader))
	var logs logBuffer
	var dropped atomic.Uint64
	release := make(chan struct{})
	first := make(chan struct{}, 1)
	live := startLive(t, rnc, Live{Query: Query{Cluster: testCluster, Logger: logs.Logger()}, PendingMsgs: 5, Dropped: &dropped},
		func(events.Event) {
			select {
			case first <- struct{}{}:
				<-release // the subscriber is stuck on its first event
			default:
			}
		})
	// Interest is local here and registered (startLive waited for it):
	// the first publish is delivered.
	const n = 50
	corePublish(t, admin, testEvent(t, testCluster, "core-1", events.MemberFailed, 0, time.Now()))
	select {
	case <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("the first event never came")
	}
	for i := 1; i < n; i++ {
		corePublish(t, admin, testEvent(t, testCluster, "core-1", events.MemberFailed, i, time.Now()))
	}
	close(release)
	delivered := 0
	eventually(t, 10*time.Second, "every event delivered or counted as dropped", func() bool {
		for len(live.got) > 0 {
			<-live.got
			delivered++
		}
		return delivered+int(dropped.Load()) == n
	})
	if dropped.Load() == 0 || !logs.Contains("live subscription dropped messages") {
		t.Fatalf("delivered %d, dropped %d; log:\n%s", delivered, dropped.Load(), logs.String())
	}
	t.Logf("delivered %d, dropped %d (pending limit 5)", delivered, dropped.Load())
}

// TestLiveRefusedWithoutPermission: a reader identity not allowed the
// events subjects (a server of an agent before the live path) gets
// ErrLiveRefused, not a subscription that silently never delivers; and the
// reader identity of today may subscribe to its cluster's events only.
func TestLiveRefusedWithoutPermission(t *testing.T) {
	old := PermissionsFor(RoleReader, testScope("core-1"))
	old.Subscribe = []string{InboxPrefix("core-1", RoleReader) + ".>"}
	reader := testID("core-1", RoleReader)
	s := startTestServer(t, ServerOptions{Name: "core-1", NoJetStream: true, Users: []User{{Identity: reader, Permissions: &old}}})
	nc, _ := connectAs(t, s.ClientURL(), reader)
	err := ReadLive(ctxT(t, 10*time.Second), nc, Live{Query: Query{Cluster: testCluster, Logger: quietLog}},
		func(events.Event) error { return nil })
	if !errors.Is(err, ErrLiveRefused) {
		t.Fatalf("ReadLive without permission: %v, want ErrLiveRefused", err)
	}

	s2 := startTestServer(t, ServerOptions{Name: "core-1", NoJetStream: true, Users: nodeUsers("core-1")})
	nc2, _ := connectAs(t, s2.ClientURL(), reader)
	err = ReadLive(ctxT(t, 10*time.Second), nc2, Live{Query: Query{Cluster: "other", Logger: quietLog}},
		func(events.Event) error { return nil })
	if !errors.Is(err, ErrLiveRefused) {
		t.Fatalf("ReadLive of another cluster's events: %v, want ErrLiveRefused", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := ReadLive(ctx, nc2, Live{Query: Query{Cluster: testCluster, Logger: quietLog}},
		func(events.Event) error { return nil }); err != nil {
		t.Fatalf("ReadLive of its cluster's events: %v", err)
	}
}

// consumerLeader is the leader of the events stream's consumer name as the
// cluster reports it within timeout ("" with no error: no leader known).
func consumerLeader(ctx context.Context, js jetstream.JetStream, name string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := js.Consumer(ctx, DefaultStreamName, name)
	if err != nil {
		return "", err
	}
	ci, err := c.Info(ctx)
	if err != nil || ci.Cluster == nil {
		return "", err
	}
	return ci.Cluster.Leader, nil
}
