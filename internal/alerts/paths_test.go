package alerts

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// chanLive is a live path fed by a test.
type chanLive chan events.Event

func (c chanLive) Events(ctx context.Context, fn func(events.Event) error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-c:
			if err := fn(ev); err != nil {
				return err
			}
		}
	}
}

// chanDurable is a durable path fed by a test; it records settlements.
type chanDurable struct {
	in      chan events.Event
	mu      sync.Mutex
	settled map[string][]bool
}

func (c *chanDurable) Events(context.Context, func(events.Event) error) error {
	panic("Paths must use EventsAck")
}

func (c *chanDurable) EventsAck(ctx context.Context, fn func(events.Event, func(bool)) error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-c.in:
			id := ev.ID
			if err := fn(ev, func(h bool) {
				c.mu.Lock()
				defer c.mu.Unlock()
				c.settled[id] = append(c.settled[id], h)
			}); err != nil {
				return err
			}
		}
	}
}

func (c *chanDurable) settlements(id string) []bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]bool(nil), c.settled[id]...)
}

// hookRecorder is a webhook that records the event ids it got, in order;
// hold makes it wait (until released) on a given id.
type hookRecorder struct {
	srv     *httptest.Server
	mu      sync.Mutex
	ids     []string
	hold    map[string]chan struct{}
	arrived chan string
}

func newHookRecorder(t *testing.T) *hookRecorder {
	h := &hookRecorder{hold: map[string]chan struct{}{}, arrived: make(chan string, 100)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var ev events.Event
		if err := json.Unmarshal(b, &ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.ids = append(h.ids, ev.ID)
		wait := h.hold[ev.ID]
		h.mu.Unlock()
		h.arrived <- ev.ID
		if wait != nil {
			<-wait
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookRecorder) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.ids...)
}

func (h *hookRecorder) config() *Config {
	return &Config{QueueSize: 64,
		Rules:   []Rule{{Name: "all", Match: Match{}, Actions: []string{"hook"}}},
		Actions: map[string]Action{"hook": {Type: ActionWebhook, URL: h.srv.URL, Timeout: 10 * time.Second}}}
}

func (h *hookRecorder) waitArrived(t *testing.T, id string) {
	t.Helper()
	select {
	case got := <-h.arrived:
		if got != id {
			t.Fatalf("webhook got %s, want %s", got, id)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("webhook never got %s", id)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPathsOneActionPerEvent: an event's actions run once from its first
// copy, whichever path brings it; a durable copy is acknowledged when the
// actions are done: at once if they are, only after they end if they
// still run; a durable-only event alerts from the durable copy.
func TestPathsOneActionPerEvent(t *testing.T) {
	hook := newHookRecorder(t)
	a, b, c := eventWithID(1), eventWithID(2), eventWithID(3)
	releaseB := make(chan struct{})
	hook.hold[b.ID] = releaseB
	live, durable, p, stop := runPaths(hook)

	live <- a // live first, actions done, then the durable copy: acked at once
	hook.waitArrived(t, a.ID)
	waitFor(t, "a's action done", func() bool { return len(hook.got()) == 1 })
	time.Sleep(50 * time.Millisecond) // the webhook answered; the tracker settles right after
	durable.in <- a
	waitFor(t, "a's durable copy acked", func() bool { return len(durable.settlements(a.ID)) == 1 })

	live <- b // live first, its action still running when the durable copy comes
	hook.waitArrived(t, b.ID)
	durable.in <- b
	time.Sleep(100 * time.Millisecond)
	if s := durable.settlements(b.ID); len(s) != 0 {
		t.Fatalf("b's durable copy settled %v while its action still ran", s)
	}
	close(releaseB)
	waitFor(t, "b's durable copy acked after its action", func() bool { return len(durable.settlements(b.ID)) == 1 })

	durable.in <- c // durable first (live missed it, or is late)
	hook.waitArrived(t, c.ID)
	waitFor(t, "c acked", func() bool { return len(durable.settlements(c.ID)) == 1 })
	live <- c
	live <- a // a re-publish of an event already handled
	time.Sleep(100 * time.Millisecond)

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := hook.got(); len(got) != 3 || got[0] != a.ID || got[1] != b.ID || got[2] != c.ID {
		t.Fatalf("actions ran for %v, want once each for %s %s %s", got, a.ID, b.ID, c.ID)
	}
	for _, id := range []string{a.ID, b.ID, c.ID} {
		if s := durable.settlements(id); len(s) != 1 || !s[0] {
			t.Errorf("event %s settled %v, want acked once", id, s)
		}
	}
	if n := p.Duplicates.Load(); n != 4 {
		t.Errorf("duplicates %d, want 4 (a, b durable; c, a live)", n)
	}
}

// TestPathsStopNaksWaitingDurableCopy: the subscriber stops while a live
// copy's action runs: the durable copy that waited for it is handed back
// (not acknowledged), so the event comes again after the restart.
func TestPathsStopNaksWaitingDurableCopy(t *testing.T) {
	hook := newHookRecorder(t)
	a := eventWithID(1)
	release := make(chan struct{})
	defer close(release)
	hook.hold[a.ID] = release
	live, durable, _, stop := runPaths(hook)
	live <- a
	hook.waitArrived(t, a.ID)
	durable.in <- a
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if s := durable.settlements(a.ID); len(s) != 1 || s[0] {
		t.Fatalf("the waiting durable copy settled %v, want handed back once", s)
	}
}

// TestSeenForgetsTheOldest: the memory is bounded; forgetting a live id
// whose durable copy has not come is counted, and its copy then runs the
// actions again (at-least-once).
func TestSeenForgetsTheOldest(t *testing.T) {
	s := newSeen(3)
	var told []uint64
	s.onForget = func(n uint64) { told = append(told, n) }
	var entries []*entry
	for i := range 5 {
		e, first := s.takeLive(strconv.Itoa(i))
		if !first {
			t.Fatalf("id %d taken before", i)
		}
		entries = append(entries, e)
	}
	// 0 and 1 are forgotten unconfirmed; 4's durable copy confirms it.
	s.finish(entries[4], true)
	acked := false
	if _, first := s.takeDurable("4", func(h bool) { acked = h }); first || !acked {
		t.Fatalf("durable copy of a remembered, handled id: first %v, acked %v", first, acked)
	}
	if n, forgotten := s.counts(); n != 3 || forgotten != 2 || len(told) != 2 {
		t.Fatalf("remembered %d, forgotten %d, told %v; want 3, 2, two reports", n, forgotten, told)
	}
	if _, first := s.takeDurable("0", func(bool) {}); !first {
		t.Fatal("a forgotten id's durable copy did not run the actions again")
	}
	// A cut-short action forgets its id: the next copy runs it again.
	e, _ := s.takeLive("x")
	s.finish(e, false)
	if _, first := s.takeLive("x"); !first {
		t.Fatal("an abandoned id was still remembered")
	}
}

// runPaths runs an Alerter with hook's config on a live and a durable
// channel source; stop cancels it and returns what Run returned.
func runPaths(hook *hookRecorder) (chanLive, *chanDurable, *Paths, func() error) {
	live := make(chanLive)
	durable := &chanDurable{in: make(chan events.Event), settled: map[string][]bool{}}
	p := &Paths{Live: live, Durable: durable, Log: discardLog()}
	return live, durable, p, runAlerter(hook, p)
}

// runAlerter runs an Alerter with hook's config on src; the function it
// returns cancels it and returns what Run returned.
func runAlerter(hook *hookRecorder, src Source) func() error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(hook.config(), discardLog()).Run(ctx, src) }()
	return func() error { cancel(); return <-done }
}

// TestPathsCopiesOfOneChangeAlertOnce: every agent that saw a member fail
// publishes the event under one id: the copies from other agents run
// nothing, the stream's one copy is acknowledged, and an event of another
// type claiming the same id is not taken for a copy (it alerts, and does
// not swallow the real one).
func TestPathsCopiesOfOneChangeAlertOnce(t *testing.T) {
	hook := newHookRecorder(t)
	live, durable, p, stop := runPaths(hook)
	id := events.MemberEventID("prod", events.MemberFailed, "core-3", "0badcafe", 7)
	copyFrom := func(node string, typ events.Type) events.Event {
		return events.Event{ID: id, Source: "kuma-agent/prod/" + node, Type: events.TypePrefix + string(typ), Subject: "core-3"}
	}
	live <- copyFrom("core-4", events.AgentStarted) // spends the id first
	hook.waitArrived(t, id)
	live <- copyFrom("core-1", events.MemberFailed)
	hook.waitArrived(t, id)
	live <- copyFrom("core-2", events.MemberFailed)
	durable.in <- copyFrom("core-1", events.MemberFailed) // the stream keeps one copy
	waitFor(t, "the stored copy acked", func() bool { return len(durable.settlements(id)) == 1 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := hook.got(); len(got) != 2 {
		t.Fatalf("actions ran %d times, want 2 (the other event, and the failure once)", len(got))
	}
	if n := p.Duplicates.Load(); n != 2 {
		t.Errorf("duplicates %d, want 2 (core-2's live copy, the stored copy)", n)
	}
}
