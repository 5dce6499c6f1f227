package natsbus

import (
	"context"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/nats-io/nats.go/jetstream"
)

// retryQueue is a minimal stand-in for the outbox: events wait in memory in
// order and are resent until JetStream acknowledges them.
type retryQueue struct {
	mu      sync.Mutex
	pending []events.Event
	wake    chan struct{}
}

func newRetryQueue() *retryQueue { return &retryQueue{wake: make(chan struct{}, 1)} }

func (q *retryQueue) add(e events.Event) {
	q.mu.Lock()
	q.pending = append(q.pending, e)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *retryQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// run sends the head of the queue until ctx is done; attempts counts sends.
func (q *retryQueue) run(ctx context.Context, js jetstream.JetStream, attempts *int) {
	for ctx.Err() == nil {
		q.mu.Lock()
		if len(q.pending) == 0 {
			q.mu.Unlock()
			select {
			case <-q.wake:
			case <-ctx.Done():
			}
			continue
		}
		e := q.pending[0]
		q.mu.Unlock()
		*attempts++
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := Publish(pctx, js, e)
		cancel()
		if err != nil {
			select {
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
			}
			continue
		}
		q.mu.Lock()
		q.pending = q.pending[1:]
		q.mu.Unlock()
	}
}

// runOutage publishes events continuously while the server is down for
// outage, restarts it on the same port and store, and checks that the
// stream holds every event exactly once.
func runOutage(t *testing.T, outage time.Duration) {
	dir := t.TempDir()
	s := startTestServer(t, ServerOptions{Name: "n1", StoreDir: dir})
	port := s.ns.Addr().(*net.TCPAddr).Port
	nc, js := connectTest(t, s.ClientURL())
	ctx := ctxT(t, outage+2*time.Minute)
	if _, err := EnsureStream(ctx, js, StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	q := newRetryQueue()
	sendCtx, stopSend := context.WithCancel(ctx)
	defer stopSend()
	attempts := 0
	sent := make(chan struct{})
	go func() { defer close(sent); q.run(sendCtx, js, &attempts) }()

	produced := map[string]bool{}
	produce := func(d time.Duration) {
		end := time.Now().Add(d)
		for i := 0; time.Now().Before(end); i++ {
			e := testEvent(t, "prod", "core-1", events.CheckStatusChanged, i, time.Now())
			produced[e.ID] = true
			q.add(e)
			time.Sleep(20 * time.Millisecond)
		}
	}
	produce(time.Second)
	s.Shutdown()
	eventually(t, 10*time.Second, "the client to notice the outage", func() bool { return !nc.IsConnected() })
	produce(outage)
	restarted, err := StartServer(ServerOptions{Name: "n1", Host: "127.0.0.1", Port: port, StoreDir: dir,
		Users: []User{{Identity: testAdmin}}})
	if err != nil {
		t.Fatalf("restart on the same port and store: %v", err)
	}
	t.Cleanup(restarted.Shutdown)
	produce(time.Second)
	eventually(t, 60*time.Second, "the retry queue to drain", func() bool { return q.len() == 0 })
	stopSend()
	<-sent

	stored := map[string]int{}
	for _, e := range readAll(t, js, DefaultStreamName, Query{}) {
		stored[e.ID]++
	}
	lost, dup := 0, 0
	for id := range produced {
		switch stored[id] {
		case 0:
			lost++
		case 1:
		default:
			dup++
		}
	}
	t.Logf("outage %s: %d events produced, %d publish attempts, %d stored, %d lost, %d duplicated, reconnects %d",
		outage, len(produced), attempts, len(stored), lost, dup, nc.Stats().Reconnects)
	if lost != 0 || dup != 0 || len(stored) != len(produced) {
		t.Fatalf("%d lost, %d duplicated, %d stored of %d produced", lost, dup, len(stored), len(produced))
	}
	if nc.Stats().Reconnects == 0 {
		t.Fatal("the connection never reconnected")
	}
}

func TestPublishAfterServerRestart(t *testing.T) { runOutage(t, 3*time.Second) }

// TestFigureOutage is the 60 s outage figure:
// KUMA_FIG_OUTAGE=60s go test -run TestFigureOutage -v ./natsbus/
func TestFigureOutage(t *testing.T) {
	v := os.Getenv("KUMA_FIG_OUTAGE")
	if v == "" {
		t.Skip("figure test: set KUMA_FIG_OUTAGE=60s")
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("KUMA_FIG_OUTAGE=%q: %v", v, err)
	}
	runOutage(t, d)
}
