package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// A full queue drops its oldest event, counts it, and never blocks the source.
func TestRunQueueOverflowDropsOldest(t *testing.T) {
	started := make(chan struct{}, 16)
	release := make(chan struct{})
	var mu sync.Mutex
	var ids []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev events.Event
		_ = json.NewDecoder(r.Body).Decode(&ev)
		mu.Lock()
		ids = append(ids, ev.ID)
		mu.Unlock()
		started <- struct{}{}
		<-release
	}))
	defer srv.Close()

	cfg := webhookConfig(srv.URL, 0)
	cfg.QueueSize = 2
	evs := make([]events.Event, 5)
	for i := range evs {
		evs[i] = mustEvent(t, "n", events.MemberFailed, events.SeverityCritical)
	}
	src := funcSource(func(ctx context.Context, fn func(events.Event) error) error {
		_ = fn(evs[0])
		<-started // evs[0] is in flight; the worker is busy
		for _, ev := range evs[1:] {
			_ = fn(ev) // queue of 2: evs[1] and evs[2] are pushed out
		}
		close(release)
		return nil
	})
	a := New(cfg, discardLog())
	if err := a.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	want := []string{evs[0].ID, evs[3].ID, evs[4].ID}
	if !slices.Equal(ids, want) {
		t.Errorf("delivered %v, want first, then the two newest %v", ids, want)
	}
	if s := a.Stats()["hook"]; s != (Stats{Matched: 5, Delivered: 3, Dropped: 2}) {
		t.Errorf("stats = %+v", s)
	}
}

// Rules route to their own actions; an action shared by two matching rules
// gets the event once.
func TestRunRoutesAndDeduplicates(t *testing.T) {
	cfg := &Config{
		QueueSize: 8,
		Rules: []Rule{
			{Name: "crit", Match: Match{Severity: []string{"critical"}}, Actions: []string{"a", "b"}},
			{Name: "core", Match: Match{Nodes: []string{"kuma-core-*"}}, Actions: []string{"a"}},
			{Name: "leases", Match: Match{Types: []string{"lease.*"}}, Actions: []string{"c"}},
		},
		Actions: map[string]Action{"a": {Type: ActionLog}, "b": {Type: ActionLog}, "c": {Type: ActionLog}},
	}
	src := sliceSource{
		mustEvent(t, "kuma-core-1", events.MemberFailed, events.SeverityCritical), // crit+core: a once, b
		mustEvent(t, "kuma-core-2", events.MemberJoined, events.SeverityInfo),     // core: a
		mustEvent(t, "kuma-col-1", events.LeaseAcquired, events.SeverityInfo),     // leases: c
		mustEvent(t, "kuma-col-1", events.MemberJoined, events.SeverityInfo),      // nothing
	}
	a := New(cfg, discardLog())
	if err := a.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	want := map[string]Stats{"a": {Matched: 2, Delivered: 2}, "b": {Matched: 1, Delivered: 1}, "c": {Matched: 1, Delivered: 1}}
	got := a.Stats()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("stats[%s] = %+v, want %+v", k, got[k], v)
		}
	}
}

func TestRunStopsCleanlyOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	src := funcSource(func(ctx context.Context, fn func(events.Event) error) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	})
	cfg := &Config{QueueSize: 1, Rules: []Rule{{Name: "r", Actions: []string{"j"}}}, Actions: map[string]Action{"j": {Type: ActionLog}}}
	if err := Run(ctx, cfg, src, discardLog()); err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
}

func TestRunReturnsSourceError(t *testing.T) {
	boom := errors.New("nats: connection closed")
	src := funcSource(func(context.Context, func(events.Event) error) error { return boom })
	cfg := &Config{QueueSize: 1, Rules: []Rule{{Name: "r", Actions: []string{"j"}}}, Actions: map[string]Action{"j": {Type: ActionLog}}}
	if err := Run(context.Background(), cfg, src, discardLog()); !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the source error", err)
	}
}

// Cancelling while a webhook waits to retry ends the wait, not the process.
func TestRunCancelDuringBackoff(t *testing.T) {
	srv := newHookServer(t, 503)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := New(webhookConfig(srv.URL, 5), discardLog())
	a.Sleep = func(ctx context.Context, d time.Duration) error { cancel(); <-ctx.Done(); return ctx.Err() }
	src := funcSource(func(ctx context.Context, fn func(events.Event) error) error {
		_ = fn(mustEvent(t, "n", events.MemberFailed, events.SeverityCritical))
		<-ctx.Done()
		return ctx.Err()
	})
	if err := a.Run(ctx, src); err != nil {
		t.Fatal(err)
	}
	if n := srv.requests(); n != 1 {
		t.Errorf("requests = %d, want 1 before the cancelled wait", n)
	}
	if s := a.Stats()["hook"]; s.Failed != 1 {
		t.Errorf("stats = %+v", s)
	}
}
