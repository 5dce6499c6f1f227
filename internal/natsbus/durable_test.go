package natsbus

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/nats-io/nats.go/jetstream"
)

// durableRun reads d in the background, settling each event with handle's
// verdict, and reports each delivered event on the returned channel.
type durableRun struct {
	got    chan events.Event
	cancel context.CancelFunc
	done   chan error
}

func startDurable(t *testing.T, js jetstream.JetStream, d Durable, handle func(events.Event, Settle)) *durableRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &durableRun{got: make(chan events.Event, 100), cancel: cancel, done: make(chan error, 1)}
	if d.Query.Logger == nil {
		d.Query.Logger = quietLog
	}
	go func() {
		r.done <- ReadDurable(ctx, js, DefaultStreamName, d, func(e events.Event, s Settle) error {
			r.got <- e
			handle(e, s)
			return nil
		})
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *durableRun) stop() {
	r.cancel()
	if err := <-r.done; err != nil {
		panic(err)
	}
	r.done <- nil
}

// next waits for the next delivery (a test deadline, not a measurement).
func (r *durableRun) next(t *testing.T) events.Event {
	t.Helper()
	select {
	case e := <-r.got:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event delivered")
		return events.Event{}
	}
}

// none checks nothing more was delivered once the consumer has caught up.
func (r *durableRun) none(t *testing.T, js jetstream.JetStream, name string) {
	t.Helper()
	eventually(t, 10*time.Second, "the consumer to catch up", func() bool {
		c, err := js.Consumer(context.Background(), DefaultStreamName, name)
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
	select {
	case e := <-r.got:
		t.Fatalf("unexpected delivery %s (%s)", e.ID, e.Subject)
	default:
	}
}

func publishN(t *testing.T, js jetstream.JetStream, from, to int) []string {
	t.Helper()
	var ids []string
	for i := from; i < to; i++ {
		e := testEvent(t, "prod", "core-1", events.CheckStatusChanged, i, time.Now())
		if err := Publish(ctxT(t, 10*time.Second), js, e); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

func TestDurableResumesWhereItLeftOff(t *testing.T) {
	s := startTestServer(t, ServerOptions{Name: "d"})
	_, js := connectTest(t, s.ClientURL())
	if _, err := EnsureStream(ctxT(t, 10*time.Second), js, StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	before := publishN(t, js, 0, 3) // stored before the consumer exists: not delivered
	d := Durable{Name: "alerts-test", Query: Query{Cluster: "prod"}}
	ack := func(_ events.Event, s Settle) { s(true) }

	r := startDurable(t, js, d, ack)
	eventually(t, 10*time.Second, "the consumer", func() bool {
		_, err := js.Consumer(context.Background(), DefaultStreamName, d.Name)
		return err == nil
	})
	first := publishN(t, js, 3, 6)
	for _, id := range first {
		if e := r.next(t); e.ID != id {
			t.Fatalf("delivered %s, want %s (events stored before the consumer: %v)", e.ID, id, before)
		}
	}
	r.none(t, js, d.Name)
	r.stop()

	missed := publishN(t, js, 6, 10) // while no subscriber runs
	r = startDurable(t, js, d, ack)
	for _, id := range missed {
		if e := r.next(t); e.ID != id {
			t.Fatalf("after the restart delivered %s, want %s", e.ID, id)
		}
	}
	r.none(t, js, d.Name) // and nothing acknowledged before
}

// An event handed back unsettled (false) comes again at once; one being
// handled longer than AckWait is not delivered twice.
func TestDurableNakAndKeepAlive(t *testing.T) {
	s := startTestServer(t, ServerOptions{Name: "d"})
	_, js := connectTest(t, s.ClientURL())
	if _, err := EnsureStream(ctxT(t, 10*time.Second), js, StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	d := Durable{Name: "slow", AckWait: 600 * time.Millisecond}
	var mu sync.Mutex
	seen := map[string]int{}
	release := make(chan struct{})
	r := startDurable(t, js, d, func(e events.Event, s Settle) {
		mu.Lock()
		seen[e.ID]++
		n := seen[e.ID]
		mu.Unlock()
		if e.Subject == "check-0" && n == 1 {
			s(false) // abandoned: again, please
			return
		}
		go func() { <-release; s(true) }() // a slow action: several AckWaits
	})
	eventually(t, 10*time.Second, "the consumer", func() bool {
		_, err := js.Consumer(context.Background(), DefaultStreamName, d.Name)
		return err == nil
	})
	ids := publishN(t, js, 0, 2)
	if e := r.next(t); e.ID != ids[0] {
		t.Fatalf("first delivery %s", e.ID)
	}
	got := map[string]bool{}
	for range 2 { // ids[1], and ids[0] again after the nak, in either order
		got[r.next(t).ID] = true
	}
	if !got[ids[0]] || !got[ids[1]] {
		t.Fatalf("after the nak got %v, want both events", got)
	}
	time.Sleep(4 * d.AckWait) // long past AckWait while both are being handled
	close(release)
	r.none(t, js, d.Name)
	mu.Lock()
	defer mu.Unlock()
	if seen[ids[0]] != 2 || seen[ids[1]] != 1 {
		t.Fatalf("deliveries %v; want 2 for the nak'ed event, 1 for the slow one", seen)
	}
}

func TestDurableNameChecked(t *testing.T) {
	for _, bad := range []string{"", "a.b", "a b", "a*", "a>", "a/b"} {
		if ValidDurableName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := ValidDurableName("kuma-alerts-core-1_example_com"); err != nil {
		t.Error(err)
	}
	err := ReadDurable(context.Background(), nil, DefaultStreamName, Durable{Name: "x.y"}, nil)
	if err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("ReadDurable with a bad name: %v", err)
	}
}

// A subscriber started before the agents made the stream waits for it
// instead of failing.
func TestDurableWaitsForTheStream(t *testing.T) {
	s := startTestServer(t, ServerOptions{Name: "w"})
	_, js := connectTest(t, s.ClientURL())
	d := Durable{Name: "alerts-wait", Query: Query{Cluster: "prod"}}
	r := startDurable(t, js, d, func(_ events.Event, s Settle) { s(true) })
	time.Sleep(700 * time.Millisecond) // past the first retry
	select {
	case err := <-r.done:
		t.Fatalf("ReadDurable ended before the stream existed: %v", err)
	default:
	}
	if _, err := EnsureStream(ctxT(t, 10*time.Second), js, StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the consumer", func() bool {
		_, err := js.Consumer(context.Background(), DefaultStreamName, d.Name)
		return err == nil
	})
	ids := publishN(t, js, 0, 2)
	for _, id := range ids {
		if e := r.next(t); e.ID != id {
			t.Fatalf("delivered %s, want %s", e.ID, id)
		}
	}
}
