package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDelayDoublesCapsAndJitters(t *testing.T) {
	for _, tc := range []struct {
		r       float64
		attempt int
		want    time.Duration
	}{
		{0, 0, 50 * time.Millisecond},          // d=100ms, low end d/2
		{0.5, 0, 75 * time.Millisecond},        // middle of [d/2, d)
		{0, 1, 100 * time.Millisecond},         // d=200ms
		{0, 3, 400 * time.Millisecond},         // d=800ms
		{0, 10, 500 * time.Millisecond},        // capped at Max=1s
		{0.999, 63, 999500 * time.Microsecond}, // no overflow far out
	} {
		b := Backoff{Min: 100 * time.Millisecond, Max: time.Second, Rand: func() float64 { return tc.r }}
		if got := b.Delay(tc.attempt); got != tc.want {
			t.Errorf("Delay(%d) with rand %v = %v, want %v", tc.attempt, tc.r, got, tc.want)
		}
	}
}

func TestDoRetriesUntilSuccess(t *testing.T) {
	calls := 0
	var waits []time.Duration
	err := Do(context.Background(), Backoff{Min: time.Millisecond, Max: 4 * time.Millisecond, Rand: func() float64 { return 0 }},
		func(context.Context) error {
			calls++
			if calls < 4 {
				return errors.New("not yet")
			}
			return nil
		}, func(_ error, w time.Duration) { waits = append(waits, w) })
	if err != nil || calls != 4 {
		t.Fatalf("Do = %v after %d calls, want nil after 4", err, calls)
	}
	want := []time.Duration{500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond}
	if len(waits) != len(want) {
		t.Fatalf("waits %v, want %v", waits, want)
	}
	for i := range want {
		if waits[i] != want[i] {
			t.Errorf("wait %d = %v, want %v", i, waits[i], want[i])
		}
	}
}

func TestDoStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := Do(ctx, Backoff{Min: time.Hour, Max: time.Hour}, func(context.Context) error {
		calls++
		cancel() // the wait that follows must end at once
		return errors.New("down")
	}, nil)
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("Do = %v after %d calls, want context.Canceled after 1", err, calls)
	}
}

func TestSleep(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond) {
		t.Error("Sleep of 1ms on a live context reported false")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Error("Sleep on a done context reported true")
	}
}
