package outbox

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// Drain publishes the outbox in order, batch events per Peek, acking each
// event after publish succeeds, until it is empty (returns the count, nil),
// ctx ends, or publish fails (returns the count and that error; the failed
// event is first next time, so per-node order holds).
//
// A crash between publish and Ack re-publishes that event with the same ID;
// it is delivered exactly once only because publish sets Nats-Msg-Id to the
// event ID and JetStream discards the duplicate within its window.
func (o *Outbox) Drain(ctx context.Context, publish func(context.Context, events.Event) error, batch int) (int, error) {
	if batch <= 0 {
		batch = 100
	}
	sent := 0
	for {
		evs, err := o.Peek(batch)
		if err != nil || len(evs) == 0 {
			return sent, err
		}
		for _, e := range evs {
			if err := ctx.Err(); err != nil {
				return sent, err
			}
			if err := publish(ctx, e); err != nil {
				return sent, err
			}
			if err := o.Ack(1); err != nil {
				return sent, err
			}
			sent++
		}
	}
}

// Pending is one publish awaiting its acknowledgement. Wait and Done may be
// called more than once; they report the same outcome.
type Pending interface {
	// Wait blocks until the outcome is known (nil: stored) or ctx ends
	// (ctx.Err()).
	Wait(ctx context.Context) error
	// Done reports, without blocking, whether the outcome is known, and it.
	Done() (bool, error)
}

// DefaultWindow is DrainWindow's bound on unacknowledged publishes when
// given none.
const DefaultWindow = 256

// DrainWindow publishes the outbox in order like Drain, but without waiting
// for each acknowledgement before the next send: send starts a publish and
// returns its Pending, and up to window publishes are awaited at once. An
// event is acked here (and leaves the outbox) only once its own
// acknowledgement and those of every event before it arrived. It returns
// when the outbox is empty (count, nil), ctx ends, or a send or an
// acknowledgement fails or times out (count, that error).
//
// On a failure it first waits for the outcome of every later publish in
// flight, so none of them is still on its way when the next call re-sends
// from the first unacked event; the re-sends of events that were stored
// after all are dropped by JetStream's Nats-Msg-Id dedupe, as in Drain.
// Order in the stream holds as long as the server stores a connection's
// publishes in the order sent or not at all (a lost connection loses a
// suffix). If an event failed while a later one was stored, the re-send
// lands after it; that is logged.
func (o *Outbox) DrainWindow(ctx context.Context, send func(events.Event) (Pending, error), window int) (int, error) {
	if window <= 0 {
		window = DefaultWindow
	}
	more := o.Wait() // taken before each peek: an append during it is not missed
	evs, err := o.Peek(window)
	if err != nil {
		return 0, err
	}
	var inflight []Pending     // oldest first; one per handed-out, unacked event
	var sentEvs []events.Event // the events of inflight
	acked := 0
	for {
		for _, e := range evs {
			if err := ctx.Err(); err != nil {
				return acked, err
			}
			p, err := send(e)
			if err != nil {
				return o.settle(ctx, acked, inflight, err)
			}
			inflight = append(inflight, p)
			sentEvs = append(sentEvs, e)
		}
		if len(inflight) == 0 {
			return acked, nil
		}
		// A later publish refused for certain (JetStream: no responders, as
		// while a stream has no leader or interest is being re-propagated after
		// a server restart) is re-sent, with every one after it, without
		// waiting for the oldest acknowledgement's timeout (5 s): the re-send
		// reaches the live subscribers as soon as interest is back. The store
		// may then hold it before an older event whose outcome is still open:
		// the same reordering a timed-out ack already causes; consumers order
		// by the event's time and dedupe by id.
		if k := slices.IndexFunc(inflight[1:], refusedNow); k >= 0 {
			for i := k + 1; i < len(inflight); i++ {
				p, err := send(sentEvs[i])
				if err != nil {
					return o.settle(ctx, acked, inflight, err)
				}
				inflight[i] = p
			}
		}
		// While the oldest acknowledgement is awaited, an event appended
		// meanwhile goes out at once (room in the window permitting), not
		// after it: an acknowledgement held up by a stream leader election
		// (up to the ack timeout) must not hold back a member.failed that the
		// live subscribers would get the moment it is sent.
		woke, err := waitOrMore(ctx, inflight[0], more, len(inflight) < window, inflight[1:])
		if woke {
			more = o.Wait()
			if evs, err = o.PeekMore(window - len(inflight)); err != nil {
				return o.settle(ctx, acked, inflight, err)
			}
			continue
		}
		if err != nil {
			return o.settle(ctx, acked, inflight, err)
		}
		n := 1 // and every later one already acknowledged, in one cursor write
		for n < len(inflight) {
			if done, err := inflight[n].Done(); !done || err != nil {
				break
			}
			n++
		}
		if err := o.Ack(n); err != nil {
			return acked, err
		}
		acked += n
		inflight = inflight[n:]
		sentEvs = sentEvs[n:]
		more = o.Wait()
		if evs, err = o.PeekMore(window - len(inflight)); err != nil {
			return o.settle(ctx, acked, inflight, err)
		}
	}
}

// waitOrMore waits for p's outcome (woke false, its error) or, when room,
// for more (woke true: p's outcome still open), or ctx's end.
func waitOrMore(ctx context.Context, p Pending, more <-chan struct{}, room bool, later []Pending) (woke bool, err error) {
	if !room && len(later) == 0 {
		return false, p.Wait(ctx)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop, exited := make(chan struct{}), make(chan struct{})
	defer func() { close(stop); <-exited }() // later's Pendings are the caller's again
	if !room {
		more = nil
	}
	go func() {
		defer close(exited)
		t := time.NewTicker(RefusedRetry)
		defer t.Stop()
		for {
			select {
			case <-more:
				cancel()
				return
			case <-t.C:
				if slices.ContainsFunc(later, refusedNow) {
					cancel()
					return
				}
			case <-stop:
				return
			}
		}
	}()
	err = p.Wait(wctx)
	if err != nil && ctx.Err() == nil && wctx.Err() != nil {
		return true, nil
	}
	return false, err
}

// RefusedRetry is how often DrainWindow looks for, and re-sends, later
// publishes refused for certain while the oldest acknowledgement is awaited.
var RefusedRetry = 100 * time.Millisecond

// Refuser is a Pending that can tell its failure certainly did not store
// the event (JetStream: no responders, no stream leader listened).
type Refuser interface{ Refused() bool }

func refusedNow(p Pending) bool {
	r, ok := p.(Refuser)
	if !ok {
		return false
	}
	done, err := p.Done()
	return done && err != nil && r.Refused()
}

// settle ends a DrainWindow round that failed with cause: it waits for every
// publish in flight, acks the acknowledged prefix, and returns cause.
func (o *Outbox) settle(ctx context.Context, acked int, inflight []Pending, cause error) (int, error) {
	if ctx.Err() != nil {
		return acked, cause
	}
	prefix, failed, storedAfter := 0, false, 0
	for _, p := range inflight {
		err := p.Wait(ctx)
		if ctx.Err() != nil {
			return acked, ctx.Err()
		}
		switch {
		case err != nil:
			failed = true
		case !failed:
			prefix++
		default:
			storedAfter++
		}
	}
	if prefix > 0 {
		if err := o.Ack(prefix); err != nil {
			return acked, errors.Join(cause, err)
		}
		acked += prefix
	}
	if storedAfter > 0 {
		o.opt.Logger.Warn("outbox: later events were acknowledged after one that failed; unless that one was stored after all, its re-send lands after them in the stream",
			"acknowledged_after", storedAfter, "err", cause)
	}
	return acked, cause
}
