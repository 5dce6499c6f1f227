package natsbus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func connectUnbuffered(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := Connect(ctxT(t, 10*time.Second), ClientOptions{URL: url, NoReconnectBuffer: true, Logger: quietLog,
		User: testAdmin.User, Password: testAdmin.Password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestAsyncPublisherStoresOnceAndInOrder(t *testing.T) {
	s := startTestServer(t, ServerOptions{Name: "a"})
	_, js := connectTest(t, s.ClientURL())
	if _, err := EnsureStream(ctxT(t, 10*time.Second), js, StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	pub, err := NewAsyncPublisher(connectUnbuffered(t, s.ClientURL()), 16, 0)
	if err != nil {
		t.Fatal(err)
	}
	var sent []events.Event
	var acks []*PubAck
	for i := range 40 {
		e := testEvent(t, "prod", "core-1", events.CheckStatusChanged, i, time.Now())
		for range 1 + i%2 { // every other event twice: the re-send is dropped
			a, err := pub.PublishAsync(e)
			if err != nil {
				t.Fatal(err)
			}
			acks = append(acks, a)
		}
		sent = append(sent, e)
	}
	for _, a := range acks {
		if err := a.Wait(ctxT(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if done, err := a.Done(); !done || err != nil {
			t.Fatalf("Done after Wait = %v, %v", done, err)
		}
	}
	got := readAll(t, js, DefaultStreamName, Query{})
	if len(got) != len(sent) {
		t.Fatalf("stored %d events, want %d", len(got), len(sent))
	}
	for i := range got {
		if got[i].ID != sent[i].ID {
			t.Fatalf("event %d: %s, want %s", i, got[i].ID, sent[i].ID)
		}
	}
	bad := sent[0]
	bad.Type = ""
	if _, err := pub.PublishAsync(bad); !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("an invalid event: %v, want ErrInvalidEvent", err)
	}
}

// Without a reconnect buffer, a publish while the server is away fails at
// once, and the acknowledgements awaited fail too: nothing is left to be
// sent behind the caller's back after the reconnect.
func TestAsyncPublisherFailsFastWhenDisconnected(t *testing.T) {
	s := startTestServer(t, ServerOptions{Name: "a"})
	if _, err := NewAsyncPublisher(func() *nats.Conn { nc, _ := connectTest(t, s.ClientURL()); return nc }(), 16, 0); err == nil {
		t.Fatal("an async publisher on a buffering connection")
	}
	nc := connectUnbuffered(t, s.ClientURL())
	pub, err := NewAsyncPublisher(nc, 16, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// No stream: the server answers nothing the client could take for an ack.
	a, err := pub.PublishAsync(testEvent(t, "prod", "core-1", events.CheckStatusChanged, 0, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Wait(ctxT(t, 10*time.Second)); !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("publish without a stream: %v, want no stream response", err)
	}
	s.Shutdown()
	eventually(t, 10*time.Second, "the client to notice", func() bool { return !nc.IsConnected() })
	if _, err := pub.PublishAsync(testEvent(t, "prod", "core-1", events.CheckStatusChanged, 1, time.Now())); !errors.Is(err, nats.ErrReconnectBufExceeded) {
		t.Fatalf("publish while disconnected: %v, want it refused at once", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.Wait(ctx); err == nil {
		t.Fatal("a failed publish reported success on a second Wait")
	}
}
