package outbox

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// TestConcurrentAppendDuringDrain: producers append while the publisher
// drains; every event must be published exactly once, in append order.
func TestConcurrentAppendDuringDrain(t *testing.T) {
	o, err := Open(Options{Dir: t.TempDir(), Sync: SyncInterval, Cluster: "c", Node: "n"})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	const n = 3000
	var mu sync.Mutex
	var published []string
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			more := o.Wait()
			_, _ = o.Drain(ctx, func(_ context.Context, e events.Event) error {
				mu.Lock()
				published = append(published, e.Subject)
				mu.Unlock()
				return nil
			}, 7)
			select {
			case <-more:
			case <-time.After(5 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	}()
	var seq sync.Mutex
	next := 0
	var wg sync.WaitGroup
	for range 3 { // several producers, like the scheduler and the mesh
		wg.Go(func() {
			for {
				seq.Lock()
				if next >= n {
					seq.Unlock()
					return
				}
				e, _ := events.New("c", "n", events.CheckStatusChanged, strconv.Itoa(next), events.SeverityInfo, nil, time.Now())
				next++
				err := o.Append(e)
				seq.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		k := len(published)
		mu.Unlock()
		if k >= n && o.Len() == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if len(published) != n {
		t.Fatalf("published %d of %d (pending %d)", len(published), n, o.Len())
	}
	for i, s := range published {
		if s != strconv.Itoa(i) {
			t.Fatalf("position %d holds event %s", i, s)
		}
	}
}
