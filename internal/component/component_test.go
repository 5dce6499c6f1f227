package component

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/retry"
)

// recorder logs the calls of fake components in order.
type recorder struct{ calls []string }

func (r *recorder) comp(name string, startErr, stopErr error) Component {
	return Func{ID: name,
		OnStart: func(context.Context) error { r.calls = append(r.calls, "start "+name); return startErr },
		OnStop:  func() error { r.calls = append(r.calls, "stop "+name); return stopErr },
	}
}

func TestManagerStartsInOrderStopsInReverse(t *testing.T) {
	var r recorder
	m := NewManager(nil, r.comp("a", nil, nil), r.comp("b", nil, nil), r.comp("c", nil, nil))
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(); err != nil { // a second Stop stops nothing twice
		t.Fatal(err)
	}
	want := []string{"start a", "start b", "start c", "stop c", "stop b", "stop a"}
	if !slices.Equal(r.calls, want) {
		t.Errorf("calls %q, want %q", r.calls, want)
	}
}

func TestManagerFailedStartStopsWhatStarted(t *testing.T) {
	var r recorder
	boom := errors.New("port in use")
	m := NewManager(nil, r.comp("a", nil, nil), r.comp("b", nil, nil), r.comp("c", boom, nil), r.comp("d", nil, nil))
	err := m.Start(context.Background())
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "start c") {
		t.Fatalf("Start = %v, want the error of c, named", err)
	}
	// c failed: its own Start cleaned up, so it is not stopped; d never started.
	want := []string{"start a", "start b", "start c", "stop b", "stop a"}
	if !slices.Equal(r.calls, want) {
		t.Errorf("calls %q, want %q", r.calls, want)
	}
}

func TestManagerStopsOnCancelledStart(t *testing.T) {
	var r recorder
	ctx, cancel := context.WithCancel(context.Background())
	b := Func{ID: "b", OnStart: func(context.Context) error { cancel(); return nil }, OnStop: func() error { r.calls = append(r.calls, "stop b"); return nil }}
	m := NewManager(nil, r.comp("a", nil, nil), b, r.comp("c", nil, nil))
	if err := m.Start(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start = %v, want context.Canceled", err)
	}
	want := []string{"start a", "stop b", "stop a"}
	if !slices.Equal(r.calls, want) {
		t.Errorf("calls %q, want %q", r.calls, want)
	}
}

func TestManagerStopJoinsErrorsAndStopsAll(t *testing.T) {
	var r recorder
	e1, e2 := errors.New("e1"), errors.New("e2")
	m := NewManager(nil, r.comp("a", nil, e1), r.comp("b", nil, nil), r.comp("c", nil, e2))
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := m.Stop()
	if !errors.Is(err, e1) || !errors.Is(err, e2) || !strings.Contains(err.Error(), "stop a") {
		t.Errorf("Stop = %v, want e1 and e2 named", err)
	}
	if want := []string{"start a", "start b", "start c", "stop c", "stop b", "stop a"}; !slices.Equal(r.calls, want) {
		t.Errorf("calls %q, want %q", r.calls, want)
	}
}

func TestLoopRunsUntilStopNotUntilStartContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	running := make(chan struct{})
	ended := make(chan struct{})
	l := &Loop{ID: "loop", Run: func(ctx context.Context) {
		close(running)
		<-ctx.Done()
		close(ended)
	}}
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	<-running
	cancel() // the start's context ending does not stop the loop
	select {
	case <-ended:
		t.Fatal("the loop ended with its start context")
	case <-time.After(50 * time.Millisecond):
	}
	if err := l.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	default:
		t.Fatal("Stop returned before the loop ended")
	}
}

func TestHeartbeatsStalled(t *testing.T) {
	now := time.Unix(1000, 0)
	hs := NewHeartbeats(time.Second)
	hs.now = func() time.Time { return now }
	a, b, c := hs.Add("b-loop"), hs.Add("a-loop"), hs.Add("retired")
	if s := hs.Stalled(5 * time.Second); len(s) != 0 {
		t.Fatalf("fresh heartbeats stalled: %v", s)
	}
	now = now.Add(6 * time.Second)
	a.Beat()
	c.Retire()
	if s := hs.Stalled(5 * time.Second); !slices.Equal(s, []Stall{{"a-loop", 6 * time.Second}}) {
		t.Errorf("Stalled = %v, want a-loop for 6s only", s)
	}
	now = now.Add(10 * time.Second)
	if s := hs.Stalled(5 * time.Second); len(s) != 2 || s[0].Name != "a-loop" || s[1].Name != "b-loop" {
		t.Errorf("Stalled = %v, want a-loop and b-loop by name", s)
	}
	b.Beat()
	if s := hs.Stalled(5 * time.Second); len(s) != 1 || s[0].Name != "b-loop" {
		t.Errorf("Stalled = %v after a-loop beat, want b-loop", s)
	}
	if hs.every != time.Second || a.Every() != time.Second || (*Heartbeat)(nil).Every() != DefaultBeatEvery {
		t.Error("beat intervals")
	}
}

func TestHeartbeatWaitBeats(t *testing.T) {
	hs := NewHeartbeats(5 * time.Millisecond)
	h := hs.Add("waiter")
	start := h.last.Load()
	if !h.Sleep(context.Background(), 30*time.Millisecond) {
		t.Fatal("Sleep on a live context reported false")
	}
	if h.last.Load() == start {
		t.Error("no beat while waiting")
	}
	if s := hs.Stalled(20 * time.Millisecond); len(s) != 0 {
		t.Errorf("a waiting loop stalled: %v", s)
	}
	wake := make(chan struct{}, 1)
	wake <- struct{}{}
	if !h.Wait(context.Background(), time.Hour, wake) {
		t.Error("Wait did not return on wake")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if h.Wait(ctx, time.Hour, nil) {
		t.Error("Wait on a done context reported true")
	}
	var nilH *Heartbeat // loops outside a daemon wait the same way
	nilH.Beat()
	if !nilH.Sleep(context.Background(), time.Millisecond) {
		t.Error("nil heartbeat Sleep")
	}
}

func TestHeartbeatRetry(t *testing.T) {
	hs := NewHeartbeats(time.Millisecond)
	h := hs.Add("retrier")
	calls := 0
	var waits []time.Duration
	err := h.Retry(context.Background(), retry.Backoff{Min: 2 * time.Millisecond, Max: 4 * time.Millisecond, Rand: func() float64 { return 0 }},
		func(context.Context) error {
			calls++
			if calls < 3 {
				return errors.New("down")
			}
			return nil
		}, func(_ error, w time.Duration) { waits = append(waits, w) })
	if err != nil || calls != 3 || !slices.Equal(waits, []time.Duration{time.Millisecond, 2 * time.Millisecond}) {
		t.Errorf("Retry = %v after %d calls, waits %v", err, calls, waits)
	}
	ctx, cancel := context.WithCancel(context.Background())
	err = h.Retry(ctx, retry.Backoff{Min: time.Hour, Max: time.Hour}, func(context.Context) error { cancel(); return errors.New("down") }, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Retry on cancel = %v", err)
	}
}
