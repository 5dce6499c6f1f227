package alerts

import (
	"sync"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// job is one event for one action, with the rules that routed it there and
// the tracker that settles the event once all its actions are done (nil
// when the source needs no settlement).
type job struct {
	ev    events.Event
	rules []string
	tr    *tracker
}

// queue is a bounded FIFO that drops its oldest entry when full, so the
// source is never blocked by a slow action and the newest state wins.
type queue struct {
	mu     sync.Mutex
	items  []job
	head   int
	n      int
	closed bool
	ready  chan struct{} // capacity 1: "something changed"
}

func newQueue(size int) *queue {
	return &queue{items: make([]job, size), ready: make(chan struct{}, 1)}
}

// push adds j and returns the oldest job if it was dropped to make room.
func (q *queue) push(j job) (old job, dropped bool) {
	q.mu.Lock()
	if q.n == len(q.items) {
		old = q.items[q.head]
		q.items[q.head] = job{}
		q.head = (q.head + 1) % len(q.items)
		q.n--
		dropped = true
	}
	q.items[(q.head+q.n)%len(q.items)] = j
	q.n++
	q.mu.Unlock()
	q.signal()
	return old, dropped
}

// rest empties the queue and returns what it held, oldest first.
func (q *queue) rest() []job {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]job, 0, q.n)
	for ; q.n > 0; q.n-- {
		out = append(out, q.items[q.head])
		q.items[q.head] = job{}
		q.head = (q.head + 1) % len(q.items)
	}
	return out
}

// close lets pop return false once the queue is drained.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

func (q *queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pop waits for a job; false when the queue is closed and empty or done is.
func (q *queue) pop(done <-chan struct{}) (job, bool) {
	for {
		q.mu.Lock()
		if q.n > 0 {
			j := q.items[q.head]
			q.items[q.head] = job{}
			q.head = (q.head + 1) % len(q.items)
			q.n--
			q.mu.Unlock()
			return j, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return job{}, false
		}
		select {
		case <-q.ready:
		case <-done:
			return job{}, false
		}
	}
}
