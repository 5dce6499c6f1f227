package outbox

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

func TestPeekMoreContinuesAfterHandedOut(t *testing.T) {
	ob := open(t, Options{Dir: t.TempDir(), SegmentBytes: 600}) // a few records per segment
	appendN(t, ob, 0, 10)
	a, _ := ob.Peek(3)
	wantSeqs(t, a, 0, 3)
	b, _ := ob.PeekMore(2)
	wantSeqs(t, b, 3, 5)
	if err := ob.Ack(2); err != nil {
		t.Fatal(err)
	}
	c, _ := ob.PeekMore(100)
	wantSeqs(t, c, 5, 10)
	if err := ob.Ack(8); err != nil { // 2, 3, 4 and 5..9
		t.Fatal(err)
	}
	if ob.Len() != 0 {
		t.Fatalf("Len = %d after acking everything handed out", ob.Len())
	}
	// Nothing outstanding: PeekMore is Peek.
	appendN(t, ob, 10, 12)
	d, _ := ob.PeekMore(5)
	wantSeqs(t, d, 10, 12)
	if err := ob.Ack(3); err == nil {
		t.Fatal("Ack of more than was handed out succeeded")
	}
}

func TestPeekMoreAfterOverflow(t *testing.T) {
	recBytes := int64(len(encodeRecord(mustJSON(t, seqEvent(t, 0)))))
	opt := Options{Dir: t.TempDir(), MaxBytes: 8 * recBytes, SegmentBytes: 2 * recBytes}
	ob := open(t, opt)
	appendN(t, ob, 0, 4)
	peeked, err := ob.Peek(4)
	if err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, peeked, 0, 4)
	appendN(t, ob, 4, 12) // drops the handed-out seq 0..3 and maybe more
	dropped := int(ob.Dropped())
	more, err := ob.PeekMore(100)
	if err != nil {
		t.Fatal(err)
	}
	if len(more) == 0 || more[0].ShortType() != events.EventsDropped {
		t.Fatalf("PeekMore after overflow: %v; want the events.dropped event first", more)
	}
	wantSeqs(t, more[1:], dropped, 12)
	if err := ob.Ack(4 + len(more)); err != nil {
		t.Fatal(err)
	}
	if ob.Len() != 0 {
		t.Fatalf("Len = %d", ob.Len())
	}
}

// fakeAck is a Pending the test resolves.
type fakeAck struct {
	ch  chan struct{} // closed when resolved
	err error
}

func resolved(err error) *fakeAck {
	a := &fakeAck{ch: make(chan struct{}), err: err}
	close(a.ch)
	return a
}

func (a *fakeAck) Wait(ctx context.Context) error {
	select {
	case <-a.ch:
		return a.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *fakeAck) Done() (bool, error) {
	select {
	case <-a.ch:
		return true, a.err
	default:
		return false, nil
	}
}

// An event leaves the outbox only once its acknowledgement and all before
// it arrived, however the acknowledgements are ordered.
func TestDrainWindowAcksOnlyAContiguousPrefix(t *testing.T) {
	ob := open(t, Options{Dir: t.TempDir()})
	appendN(t, ob, 0, 10)
	var mu sync.Mutex
	acks := map[int]*fakeAck{}
	sent := make(chan int, 100)
	send := func(e events.Event) (Pending, error) {
		a := &fakeAck{ch: make(chan struct{})}
		mu.Lock()
		acks[seqOf(t, e)] = a
		mu.Unlock()
		sent <- seqOf(t, e)
		return a, nil
	}
	resolve := func(seq int) {
		mu.Lock()
		defer mu.Unlock()
		close(acks[seq].ch)
	}
	result := make(chan error, 1)
	go func() {
		n, err := ob.DrainWindow(context.Background(), send, 4)
		if err == nil && n != 10 {
			err = errors.New("acked " + strconv.Itoa(n))
		}
		result <- err
	}()
	for want := range 4 { // the window
		if got := <-sent; got != want {
			t.Fatalf("sent %d, want %d", got, want)
		}
	}
	resolve(1)
	resolve(2)
	if n := ob.Len(); n != 10 { // 0 unacknowledged: nothing may go
		t.Fatalf("Len = %d with event 0 unacknowledged, want 10", n)
	}
	resolve(0) // 0, 1 and 2 go at once; three more are sent
	for want := 4; want < 7; want++ {
		if got := <-sent; got != want {
			t.Fatalf("sent %d, want %d", got, want)
		}
	}
	if n := ob.Len(); n != 7 {
		t.Fatalf("Len = %d after 0..2 acknowledged, want 7", n)
	}
	for seq := 3; seq < 10; seq++ {
		if seq >= 7 {
			if got := <-sent; got != seq {
				t.Fatalf("sent %d, want %d", got, seq)
			}
		}
		resolve(seq)
	}
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	if ob.Len() != 0 {
		t.Fatalf("Len = %d after the drain", ob.Len())
	}
}

// A failed acknowledgement: the prefix before it is acked, everything from
// it stays and is re-sent, in order, by the next call.
func TestDrainWindowRetriesFromFirstUnacked(t *testing.T) {
	ob := open(t, Options{Dir: t.TempDir()})
	appendN(t, ob, 0, 10)
	fail := errors.New("ack timeout")
	var sent []int
	round1 := func(e events.Event) (Pending, error) {
		seq := seqOf(t, e)
		sent = append(sent, seq)
		if seq == 2 {
			return resolved(fail), nil
		}
		return resolved(nil), nil // 3.. stored, so their re-send is a duplicate JetStream drops
	}
	n, err := ob.DrainWindow(context.Background(), round1, 4)
	if !errors.Is(err, fail) || n != 2 {
		t.Fatalf("DrainWindow = %d, %v; want 2, %v", n, err, fail)
	}
	if ob.Len() != 8 {
		t.Fatalf("Len = %d, want 8 (from the failed event on)", ob.Len())
	}
	sent = nil
	n, err = ob.DrainWindow(context.Background(), func(e events.Event) (Pending, error) {
		sent = append(sent, seqOf(t, e))
		return resolved(nil), nil
	}, 4)
	if err != nil || n != 8 {
		t.Fatalf("second DrainWindow = %d, %v", n, err)
	}
	for i, seq := range sent {
		if seq != i+2 {
			t.Fatalf("re-sent %v, want 2..9 in order", sent)
		}
	}

	// A send that fails outright: what was sent before it and acknowledged
	// is acked, the rest stays.
	appendN(t, ob, 10, 20)
	down := errors.New("disconnected")
	n, err = ob.DrainWindow(context.Background(), func(e events.Event) (Pending, error) {
		if seqOf(t, e) == 13 {
			return nil, down
		}
		return resolved(nil), nil
	}, 8)
	if !errors.Is(err, down) || n != 3 || ob.Len() != 7 {
		t.Fatalf("DrainWindow = %d, %v, Len %d; want 3, %v, 7", n, err, ob.Len(), down)
	}
}

func TestDrainWindowStopsWithCtx(t *testing.T) {
	ob := open(t, Options{Dir: t.TempDir()})
	appendN(t, ob, 0, 5)
	ctx, cancel := context.WithCancel(context.Background())
	n, err := ob.DrainWindow(ctx, func(e events.Event) (Pending, error) {
		cancel() // the acknowledgement never comes
		return &fakeAck{ch: make(chan struct{})}, nil
	}, 4)
	if !errors.Is(err, context.Canceled) || n != 0 || ob.Len() != 5 {
		t.Fatalf("DrainWindow = %d, %v, Len %d; want 0, canceled, 5", n, err, ob.Len())
	}
}

// Producers append while DrainWindow runs with acknowledgements arriving
// from another goroutine: every event published exactly once, in order.
func TestConcurrentAppendDuringDrainWindow(t *testing.T) {
	o := open(t, Options{Dir: t.TempDir(), Sync: SyncInterval, Cluster: "c", Node: "n"})
	const n = 3000
	var published []string
	acks := make(chan *fakeAck, 64)
	go func() { // the "server": acknowledges in order, some time later
		for a := range acks {
			close(a.ch)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			more := o.Wait()
			_, _ = o.DrainWindow(ctx, func(e events.Event) (Pending, error) {
				published = append(published, e.Subject)
				a := &fakeAck{ch: make(chan struct{})}
				acks <- a
				return a, nil
			}, 16)
			select {
			case <-more:
			case <-time.After(5 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	}()
	for i := range n {
		e, _ := events.New("c", "n", events.CheckStatusChanged, strconv.Itoa(i), events.SeverityInfo, nil, time.Now())
		if err := o.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for o.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	close(acks)
	if len(published) != n {
		t.Fatalf("published %d of %d (pending %d)", len(published), n, o.Len())
	}
	for i, s := range published {
		if s != strconv.Itoa(i) {
			t.Fatalf("position %d holds event %s", i, s)
		}
	}
}

// An event appended while the oldest acknowledgement is still awaited is
// sent at once, not after it (a stream leader election must not hold back
// a member.failed the live subscribers would see); a full window still
// waits. Both leave the outbox once acknowledged, in order.
func TestDrainWindowSendsAppendsWhileAnAckIsAwaited(t *testing.T) {
	ob := open(t, Options{Dir: t.TempDir()})
	appendN(t, ob, 0, 1)
	first := &fakeAck{ch: make(chan struct{})}
	sent := make(chan events.Event, 10)
	acks := []*fakeAck{first}
	var mu sync.Mutex
	done := make(chan error, 1)
	go func() {
		_, err := ob.DrainWindow(context.Background(), func(e events.Event) (Pending, error) {
			mu.Lock()
			defer mu.Unlock()
			a := first
			if len(sent) > 0 || e.Subject != "seq-0" {
				a = &fakeAck{ch: make(chan struct{})}
				acks = append(acks, a)
			}
			sent <- e
			return a, nil
		}, 2)
		done <- err
	}()
	next := func(want string) {
		t.Helper()
		select {
		case e := <-sent:
			if e.Subject != want {
				t.Fatalf("sent %s, want %s", e.Subject, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s not sent while the first acknowledgement is awaited", want)
		}
	}
	next("seq-0")
	appendN(t, ob, 1, 3)
	next("seq-1") // the window (2) is full now: seq-2 waits
	select {
	case e := <-sent:
		t.Fatalf("sent %s beyond the window", e.Subject)
	case <-time.After(200 * time.Millisecond):
	}
	mu.Lock()
	for _, a := range acks {
		close(a.ch)
	}
	mu.Unlock()
	next("seq-2")
	mu.Lock()
	close(acks[len(acks)-1].ch)
	mu.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ob.Len() != 0 {
		t.Fatalf("Len = %d after every acknowledgement", ob.Len())
	}
}
