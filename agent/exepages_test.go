package agent

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/exepages"
	"github.com/kuma-agent/kuma-agent/internal/testlab"
)

// The loop releases after its first delay and then every period, adds up
// what it gave back, says the first release at info level and a failure
// once at warning level, and goes on after a failure.
func TestExePagesLoop(t *testing.T) {
	var logs testlab.SyncBuffer
	calls := make(chan int, 16)
	n := 0
	p := &exePages{first: time.Millisecond, every: time.Millisecond,
		log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		release: func() (exepages.Result, error) {
			n++
			switch {
			case n > 4:
				// Releases after the fourth, before the cancel is seen,
				// give back nothing and never block.
				return exepages.Result{}, nil
			case n == 2, n == 3:
				calls <- n
				return exepages.Result{Regions: 1, ReleasedKiB: 1}, errors.New("EPERM")
			}
			calls <- n
			return exepages.Result{Regions: 2, ReleasedKiB: 10}, nil
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.run(ctx); close(done) }()
	for want := 1; want <= 4; want++ {
		select {
		case got := <-calls:
			if got != want {
				t.Fatalf("release %d, want %d", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("release %d never ran", want)
		}
	}
	cancel()
	<-done
	if total := p.releasedBytes.Load(); total != 22<<10 {
		t.Errorf("released %d bytes, want 22 KiB (10 + 1 + 1 + 10: a failed release counts what it gave back)", total)
	}
	out := logs.String()
	if c := strings.Count(out, "level=INFO msg=\"gave back the executable's resident pages touched at start-up"); c != 1 {
		t.Errorf("%d info lines for the first release, want 1:\n%s", c, out)
	}
	if c := strings.Count(out, "level=WARN msg=\"could not give back"); c != 1 {
		t.Errorf("%d warnings for two failures, want 1:\n%s", c, out)
	}
	if !strings.Contains(out, "level=DEBUG msg=\"could not give back the executable's resident pages\" released_kib=1 err=EPERM") {
		t.Errorf("the second failure is not at debug level:\n%s", out)
	}
}

// A cancelled agent does not release: the loop returns during its first
// wait.
func TestExePagesLoopStopsWhileWaiting(t *testing.T) {
	p := &exePages{first: time.Hour, every: time.Hour, log: slog.New(slog.DiscardHandler),
		release: func() (exepages.Result, error) { t.Error("released"); return exepages.Result{}, nil }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.run(ctx); close(done) }()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not return after its context ended")
	}
}
