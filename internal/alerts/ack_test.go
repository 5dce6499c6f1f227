package alerts

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// ackSource is an AckSource handing out phases of events, calling between
// before each phase after the first and after at the end; it records every
// settlement.
type ackSource struct {
	phases         [][]events.Event
	between, after func(ctx context.Context)

	mu      sync.Mutex
	settled map[string][]bool
}

func (s *ackSource) Events(context.Context, func(events.Event) error) error {
	panic("Run must prefer EventsAck")
}

func (s *ackSource) EventsAck(ctx context.Context, fn func(events.Event, func(bool)) error) error {
	for i, phase := range s.phases {
		if i > 0 && s.between != nil {
			s.between(ctx)
		}
		for _, ev := range phase {
			id := ev.ID
			if err := fn(ev, func(handled bool) {
				s.mu.Lock()
				defer s.mu.Unlock()
				if s.settled == nil {
					s.settled = map[string][]bool{}
				}
				s.settled[id] = append(s.settled[id], handled)
			}); err != nil {
				return err
			}
		}
	}
	if s.after != nil {
		s.after(ctx)
	}
	return ctx.Err()
}

// settledOnce checks ev was settled exactly once, with handled.
func (s *ackSource) settledOnce(t *testing.T, ev events.Event, handled bool) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if got := s.settled[ev.ID]; len(got) != 1 || got[0] != handled {
		t.Errorf("event from %s (%s) settled %v, want once as handled=%v", ev.Node(), ev.ShortType(), got, handled)
	}
}

// Every event is settled once, as handled, when all its actions are done
// with it: delivered, failed after the retries, or never routed.
func TestRunSettlesEachEventOnceHandled(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer hook.Close()
	cfg := &Config{
		QueueSize: 16,
		Rules: []Rule{
			{Name: "failures", Match: Match{Types: []string{"member.failed"}}, Actions: []string{"log", "hook"}},
			{Name: "checks", Match: Match{Types: []string{"check.*"}}, Actions: []string{"log"}},
		},
		Actions: map[string]Action{
			"log":  {Type: ActionLog},
			"hook": {Type: ActionWebhook, URL: hook.URL, Timeout: 5 * time.Second, Retries: 2, Backoff: time.Second, MaxBackoff: time.Second},
		},
	}
	failed := mustEvent(t, "n1", events.MemberFailed, events.SeverityCritical)
	started := mustEvent(t, "n2", events.AgentStarted, events.SeverityInfo) // no rule
	src := &ackSource{phases: [][]events.Event{{failed, started}}}
	a := New(cfg, discardLog())
	a.Sleep = func(context.Context, time.Duration) error { return nil }
	if err := a.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	src.settledOnce(t, failed, true)
	src.settledOnce(t, started, true)
	if s := a.Stats()["hook"]; s.Failed != 1 || s.Delivered != 0 {
		t.Errorf("hook stats %+v: the webhook's exhausted retries are counted", s)
	}
}

// An event dropped from a full queue is handled: counted, not to come again.
func TestRunSettlesDroppedEvents(t *testing.T) {
	started, release := make(chan struct{}, 8), make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
	}))
	defer hook.Close()
	cfg := webhookConfig(hook.URL, 0)
	cfg.QueueSize = 1
	first := mustEvent(t, "a", events.MemberFailed, events.SeverityCritical)
	pushedOut := mustEvent(t, "b", events.MemberFailed, events.SeverityCritical)
	last := mustEvent(t, "c", events.MemberFailed, events.SeverityCritical)
	src := &ackSource{phases: [][]events.Event{{first}, {pushedOut, last}}}
	src.between = func(context.Context) { <-started } // first is being delivered
	src.after = func(context.Context) {
		src.settledOnce(t, pushedOut, true) // at once, as the queue of 1 took last
		close(release)
	}
	a := New(cfg, discardLog())
	if err := a.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	src.settledOnce(t, first, true)
	src.settledOnce(t, last, true)
	if s := a.Stats()["hook"]; s.Dropped != 1 || s.Delivered != 2 {
		t.Errorf("hook stats %+v", s)
	}
}

// On cancellation, an event still queued and one whose delivery was cut
// short are settled as not handled: the source delivers them again.
func TestRunSettlesAbandonedEventsAsNotHandled(t *testing.T) {
	started, stop := make(chan struct{}, 8), make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-stop // no answer while the alerter runs
	}))
	defer hook.Close()
	defer close(stop)
	inFlight := mustEvent(t, "a", events.MemberFailed, events.SeverityCritical)
	queued := mustEvent(t, "b", events.MemberFailed, events.SeverityCritical)
	ctx, cancel := context.WithCancel(context.Background())
	src := &ackSource{phases: [][]events.Event{{inFlight, queued}}}
	src.after = func(context.Context) {
		<-started
		cancel()
	}
	if err := New(webhookConfig(hook.URL, 0), discardLog()).Run(ctx, src); err != nil {
		t.Fatal(err)
	}
	src.settledOnce(t, inFlight, false)
	src.settledOnce(t, queued, false)
}
