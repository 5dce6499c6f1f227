package outbox

import (
	"context"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"testing"
)

func benchAppend(b *testing.B, opt Options) {
	opt.Dir = b.TempDir()
	ob, err := Open(opt)
	if err != nil {
		b.Fatal(err)
	}
	defer ob.Close()
	e := seqEvent(b, 1)
	b.ResetTimer()
	for b.Loop() {
		if err := ob.Append(e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkAppendSyncAlways(b *testing.B) { benchAppend(b, Options{Sync: SyncAlways}) }

func BenchmarkAppendSyncInterval(b *testing.B) { benchAppend(b, Options{Sync: SyncInterval}) }

// BenchmarkReplay is the outbox replay rate: Peek+Ack of 100k queued events
// in batches of 100, as Drain does after NATS comes back (publish excluded).
func BenchmarkReplay(b *testing.B) {
	for _, c := range []struct {
		name string
		sync SyncPolicy
	}{{"SyncInterval", SyncInterval}, {"SyncAlways", SyncAlways}} {
		b.Run(c.name, func(b *testing.B) {
			const n = 100_000
			e := seqEvent(b, 1)
			var total int
			for b.Loop() {
				b.StopTimer()
				ob, err := Open(Options{Dir: b.TempDir(), Sync: SyncInterval})
				if err != nil {
					b.Fatal(err)
				}
				for range n {
					if err := ob.Append(e); err != nil {
						b.Fatal(err)
					}
				}
				ob.Close()
				b.StartTimer()
				// Replay starts from a fresh Open: recovery scan included.
				ob, err = Open(Options{Dir: ob.opt.Dir, Sync: c.sync})
				if err != nil {
					b.Fatal(err)
				}
				for {
					evs, err := ob.Peek(100)
					if err != nil {
						b.Fatal(err)
					}
					if len(evs) == 0 {
						break
					}
					if err := ob.Ack(len(evs)); err != nil {
						b.Fatal(err)
					}
					total += len(evs)
				}
				ob.Close()
			}
			if total != n*b.N {
				b.Fatalf("replayed %d, want %d", total, n*b.N)
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkDrain is replay as the publisher runs it: Drain acks (and
// rewrites the cursor) after every event; publish is a no-op here, so this
// is the outbox's own ceiling, not NATS's.
func BenchmarkDrain(b *testing.B) {
	const n = 100_000
	e := seqEvent(b, 1)
	noop := func(context.Context, events.Event) error { return nil }
	var total int
	for b.Loop() {
		b.StopTimer()
		ob, err := Open(Options{Dir: b.TempDir(), Sync: SyncInterval})
		if err != nil {
			b.Fatal(err)
		}
		for range n {
			if err := ob.Append(e); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		sent, err := ob.Drain(context.Background(), noop, 100)
		if err != nil || sent != n {
			b.Fatalf("Drain = %d, %v", sent, err)
		}
		total += sent
		ob.Close()
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
}
