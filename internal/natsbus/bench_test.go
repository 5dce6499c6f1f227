package natsbus

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/nats-io/nats.go/jetstream"
)

func benchSetup(b *testing.B, opts ...jetstream.JetStreamOpt) (jetstream.JetStream, []events.Event) {
	s := startTestServer(b, ServerOptions{Name: "bench"})
	nc, _ := connectTest(b, s.ClientURL())
	js, err := jetstream.New(nc, opts...)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := EnsureStream(context.Background(), js, StreamOptions{}); err != nil {
		b.Fatal(err)
	}
	evs := make([]events.Event, b.N)
	now := time.Now()
	for i := range evs {
		evs[i] = testEvent(b, "prod", "core-1.example.com", events.CheckStatusChanged, i, now)
	}
	return js, evs
}

// BenchmarkPublish: one event at a time, each waiting for its PubAck.
func BenchmarkPublish(b *testing.B) {
	js, evs := benchSetup(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		if err := Publish(ctx, js, evs[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkPublishAsync: up to 256 unacknowledged events in flight.
func BenchmarkPublishAsync(b *testing.B) {
	js, evs := benchSetup(b, jetstream.WithPublishAsyncMaxPending(256))
	b.ResetTimer()
	for i := range b.N {
		m, err := Msg(evs[i])
		if err != nil {
			b.Fatal(err)
		}
		if _, err := js.PublishMsgAsync(m); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("PubAcks missing after a minute")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// TestFigureLatency is the latency figure: publish-to-receipt on
// loopback through JetStream, p50/p99 over 2000 events (target p99 <= 50ms).
// KUMA_FIG_LATENCY=1 go test -run TestFigureLatency -v ./natsbus/
func TestFigureLatency(t *testing.T) {
	if os.Getenv("KUMA_FIG_LATENCY") == "" {
		t.Skip("figure test: set KUMA_FIG_LATENCY=1")
	}
	s := startTestServer(t, ServerOptions{Name: "lat"})
	_, js := connectTest(t, s.ClientURL())
	ctx := ctxT(t, 2*time.Minute)
	if _, err := EnsureStream(ctx, js, StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	var mu sync.Mutex
	sentAt := make(map[string]time.Time, n)
	lat := make([]time.Duration, 0, n)
	done := make(chan struct{})
	readCtx, stop := context.WithCancel(ctx)
	defer stop()
	readErr := make(chan error, 1)
	go func() {
		readErr <- Read(readCtx, js, DefaultStreamName, Query{Follow: true, Since: time.Now()}, func(e events.Event) error {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			if at, ok := sentAt[e.ID]; ok {
				lat = append(lat, now.Sub(at))
				if len(lat) == n {
					close(done)
				}
			}
			return nil
		})
	}()
	time.Sleep(200 * time.Millisecond) // let the consumer start
	for i := range n {
		e := testEvent(t, "prod", "core-1", events.CheckStatusChanged, i, time.Now())
		mu.Lock()
		sentAt[e.ID] = time.Now()
		mu.Unlock()
		if err := Publish(ctx, js, e); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // a steady stream, not a burst
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("received %d of %d events", len(lat), n)
	}
	stop()
	if err := <-readErr; err != nil {
		t.Fatal(err)
	}
	slices.Sort(lat)
	p50, p99, worst := lat[n/2], lat[n*99/100], lat[n-1]
	t.Logf("FIGURE latency publish->receipt over %d events: p50=%s p99=%s max=%s (target p99 <= 50ms)", n, p50, p99, worst)
	if p99 > 50*time.Millisecond {
		t.Errorf("p99 %s exceeds the 50ms target", p99)
	}
}
