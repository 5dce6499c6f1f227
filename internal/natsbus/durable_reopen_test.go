package natsbus

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/retry"
)

// flakyJS hands ReadDurable a consumer whose first iterators break at once
// (forcing re-opens); only the methods ReadDurable calls are implemented.
type flakyJS struct {
	jetstream.JetStream
	cons *flakyConsumer
}

func (*flakyJS) Consumer(context.Context, string, string) (jetstream.Consumer, error) {
	return nil, jetstream.ErrConsumerNotFound
}

func (f *flakyJS) CreateOrUpdateConsumer(context.Context, string, jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	return f.cons, nil
}

type flakyConsumer struct {
	jetstream.Consumer
	broken int      // how many iterators break at once
	opened chan int // the count after each open
	mu     sync.Mutex
	its    []*flakyIter
}

func (c *flakyConsumer) Messages(...jetstream.PullMessagesOpt) (jetstream.MessagesContext, error) {
	c.mu.Lock()
	it := &flakyIter{broken: len(c.its) < c.broken, stopped: make(chan struct{})}
	c.its = append(c.its, it)
	n := len(c.its)
	c.mu.Unlock()
	c.opened <- n
	return it, nil
}

func (c *flakyConsumer) iterators() []*flakyIter {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*flakyIter(nil), c.its...)
}

type flakyIter struct {
	jetstream.MessagesContext
	broken  bool
	once    sync.Once
	stopped chan struct{}
}

func (it *flakyIter) Next(...jetstream.NextOpt) (jetstream.Msg, error) {
	if it.broken {
		return nil, errors.New("connection reset")
	}
	<-it.stopped
	return nil, jetstream.ErrMsgIteratorClosed
}

func (it *flakyIter) Stop()  { it.once.Do(func() { close(it.stopped) }) }
func (it *flakyIter) Drain() { it.Stop() }

func (it *flakyIter) isStopped() bool {
	select {
	case <-it.stopped:
		return true
	default:
		return false
	}
}

// The read loop opens new iterators while the context's end may stop the
// current one from another goroutine: under -race this is the data race
// on the iterator variable that durable.go had, and every iterator must
// end stopped, the last one by the cancel.
func TestReadDurableReopensAndCancelStopsTheCurrentIterator(t *testing.T) {
	saved := resumeWait
	resumeWait = retry.Backoff{Min: time.Millisecond, Max: time.Millisecond}
	t.Cleanup(func() { resumeWait = saved })

	c := &flakyConsumer{broken: 3, opened: make(chan int, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- ReadDurable(ctx, &flakyJS{cons: c}, "S", Durable{Name: "d", Query: Query{Logger: quietLog}},
			func(events.Event, Settle) error { return nil })
	}()
	for n := 0; n < 4; {
		select {
		case n = <-c.opened: // the 4th is the first that holds
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d iterators opened", n)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ReadDurable = %v, want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadDurable did not return after cancel: the current iterator was not stopped")
	}
	its := c.iterators()
	if len(its) != 4 {
		t.Fatalf("%d iterators opened, want 4", len(its))
	}
	for i, it := range its {
		if !it.isStopped() {
			t.Errorf("iterator %d left running", i+1)
		}
	}
}
