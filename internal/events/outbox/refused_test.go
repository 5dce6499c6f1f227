package outbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// refusedAck is a publish the server refused for certain (no responders).
type refusedAck struct{ *fakeAck }

func (refusedAck) Refused() bool { return true }

// oldestHeld is the first event's acknowledgement: it stays open until the test
// releases it, or a generous bound passes (then the test fails: nothing was re-sent).
type oldestHeld struct {
	*fakeAck
	release   func()
	timedOut  bool
	timedOutM sync.Mutex
}

func holdOldest(bound time.Duration) *oldestHeld {
	o := &oldestHeld{fakeAck: &fakeAck{ch: make(chan struct{}), err: errors.New("timeout waiting for ack")}}
	var once sync.Once
	o.release = func() { once.Do(func() { close(o.ch) }) }
	time.AfterFunc(bound, func() {
		o.timedOutM.Lock()
		o.timedOut = true
		o.timedOutM.Unlock()
		o.release()
	})
	return o
}

// While the oldest acknowledgement is open (a stream leader election), later events
// the server refused with "no responders" are re-sent until they are stored, without
// waiting for the oldest's outcome; an event appended later still goes out too.
func TestDrainWindowResendsRefusedWhileOldestOpen(t *testing.T) {
	ob := open(t, Options{Dir: t.TempDir()})
	appendN(t, ob, 0, 6)
	oldest := holdOldest(20 * time.Second)
	var mu sync.Mutex
	attempts := map[string]int{}
	stored := map[string]bool{}
	refuseFirst := 2 // each later event is refused this many times, then stored
	send := func(e events.Event) (Pending, error) {
		mu.Lock()
		defer mu.Unlock()
		attempts[e.Subject]++
		if e.Subject == "seq-0" {
			if attempts[e.Subject] == 1 {
				return oldest, nil
			}
			return resolved(nil), nil
		}
		if attempts[e.Subject] <= refuseFirst {
			return refusedAck{resolved(errors.New("nats: no response from stream"))}, nil
		}
		stored[e.Subject] = true
		if len(stored) == 5 {
			// Every later event is stored while the oldest is still open: release it.
			oldest.release()
		}
		return resolved(nil), nil
	}
	n, err := ob.DrainWindow(context.Background(), send, 16)
	oldest.timedOutM.Lock()
	timedOut := oldest.timedOut
	oldest.timedOutM.Unlock()
	if timedOut {
		t.Fatalf("the refused events were not re-sent while the oldest ack was open (attempts %v)", attempts)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < 6; i++ {
		k := fmt.Sprintf("seq-%d", i)
		if !stored[k] || attempts[k] != refuseFirst+1 {
			t.Errorf("%s: stored %v after %d attempts, want stored after %d", k, stored[k], attempts[k], refuseFirst+1)
		}
	}
	// The oldest failed (its ack timed out): nothing is acked past it, the round ends
	// with its error and the next round sends it again (at-least-once, deduped by id).
	if n != 0 || err == nil {
		t.Fatalf("DrainWindow = %d, %v; want 0 and the oldest's error", n, err)
	}
	if ob.Len() != 6 {
		t.Fatalf("Len = %d, want 6 (nothing acked past the failed oldest)", ob.Len())
	}
}

// A later failure that is not a certain refusal (an ack timeout: the event may be
// stored) is not re-sent early: it waits for the round's end like before.
func TestDrainWindowDoesNotResendUncertainFailures(t *testing.T) {
	ob := open(t, Options{Dir: t.TempDir()})
	appendN(t, ob, 0, 3)
	release := make(chan struct{})
	var mu sync.Mutex
	attempts := map[string]int{}
	send := func(e events.Event) (Pending, error) {
		mu.Lock()
		defer mu.Unlock()
		attempts[e.Subject]++
		if e.Subject == "seq-0" {
			return &fakeAck{ch: release, err: errors.New("timeout waiting for ack")}, nil
		}
		return resolved(errors.New("timeout waiting for ack")), nil
	}
	go func() {
		// Several retry periods pass while the oldest is open.
		time.Sleep(5 * RefusedRetry)
		close(release)
	}()
	if _, err := ob.DrainWindow(context.Background(), send, 16); err == nil {
		t.Fatal("DrainWindow succeeded with every ack failed")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, k := range []string{"seq-1", "seq-2"} {
		if attempts[k] != 1 {
			t.Errorf("%s sent %d times while the oldest was open, want 1", k, attempts[k])
		}
	}
}
