package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// Defaults for zero Live fields: how many messages (and bytes) the client
// holds for a subscriber that has not taken them yet. Past either, the
// client drops (counted): the durable consumer is the catch-up.
const (
	DefaultLivePendingMsgs  = 4096
	DefaultLivePendingBytes = 16 << 20
)

// liveFlushTimeout bounds the wait for the server to answer the
// subscriptions (a connection that is reconnecting answers once back).
const liveFlushTimeout = 10 * time.Second

// ErrLiveRefused is ReadLive's error when the server refuses the
// subscription (a reader identity without the events subjects: a server of
// an older agent, or an external NATS not given them).
var ErrLiveRefused = errors.New("live events subscription refused by the server")

// Live is a plain core-NATS subscription to the events subjects: an event
// comes the moment a server relays its publish (the agents publish to the
// stream's subjects, so every publish is also a core message), with no
// JetStream consumer, and so no consumer leader, on the way. It keeps
// nothing: what it misses (the subscriber away, a slow subscriber's
// overflow) only a durable consumer delivers. Events may come twice (an
// agent publishes again what JetStream did not acknowledge).
type Live struct {
	// Query filters by Types, Node and Cluster, as for Read; Logger and
	// Forged as for Read. Since and Follow do not apply.
	Query Query
	// PendingMsgs and PendingBytes bound what the client buffers for fn;
	// 0: DefaultLivePendingMsgs, DefaultLivePendingBytes.
	PendingMsgs, PendingBytes int
	// Dropped, when set, counts the messages the client dropped because
	// fn did not keep up (nats.go's slow consumer).
	Dropped *atomic.Uint64
	// Subscribed, when set, is called once the server has answered the
	// subscriptions (the flush after them returned): unless it refused
	// them (ReadLive then returns ErrLiveRefused), an event published to
	// this server from then on reaches fn or is counted as dropped.
	// Interest on other servers (leaf nodes, hubs) follows later.
	Subscribed func()
}

// ReadLive subscribes to l's subjects on nc and calls fn (from one
// goroutine at a time) for each event, until ctx is done (nil), fn fails
// (its error), the connection is closed, or the server refuses the
// subscription (an error wrapping ErrLiveRefused). nc must have been made
// by Connect (it asks to be told of refused subscriptions). An
// undecodable message is logged and skipped; a forged one (CheckOrigin)
// is dropped, counted and logged; messages dropped for a slow fn are
// counted and logged, never silently lost.
func ReadLive(ctx context.Context, nc *nats.Conn, l Live, fn func(events.Event) error) error {
	log := l.Query.Logger
	if log == nil {
		log = slog.Default()
	}
	subjects, err := l.Query.Subjects()
	if err != nil {
		return err
	}
	if len(subjects) == 0 {
		subjects = DefaultSubjects
	}
	msgs, bytes := l.PendingMsgs, l.PendingBytes
	if msgs <= 0 {
		msgs = DefaultLivePendingMsgs
	}
	if bytes <= 0 {
		bytes = DefaultLivePendingBytes
	}
	subs := make([]*nats.Subscription, 0, len(subjects))
	defer func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	}()
	for _, subj := range subjects {
		s, err := nc.SubscribeSync(subj)
		if err != nil {
			return fmt.Errorf("live events %s: subscribe: %w", subj, err)
		}
		if err := s.SetPendingLimits(msgs, bytes); err != nil {
			return fmt.Errorf("live events %s: pending limits: %w", subj, err)
		}
		subs = append(subs, s)
	}
	// The server answers the subscriptions before this flush's PONG: a
	// refusal is known once it returns (NextMsg reports it).
	fctx, fcancel := context.WithTimeout(ctx, liveFlushTimeout)
	err = nc.FlushWithContext(fctx)
	fcancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("live events: flush: %w", err)
	}
	if l.Subscribed != nil {
		l.Subscribed()
	}

	r := liveReader{fn: fn, log: log, query: l.Query, dropped: l.Dropped, forged: new(uint64)}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.read(ctx, s); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// liveReader is what the subscriptions of one ReadLive share.
type liveReader struct {
	mu      sync.Mutex // one fn call at a time, and the counters
	fn      func(events.Event) error
	log     *slog.Logger
	query   Query
	dropped *atomic.Uint64
	forged  *uint64
	total   uint64 // dropped so far, across subscriptions
}

// read takes s's messages until ctx ends (nil) or a failure (its error).
func (r *liveReader) read(ctx context.Context, s *nats.Subscription) error {
	var seen int // s.Dropped() already counted
	countNew := func() {
		if n, err := s.Dropped(); err == nil && n > seen {
			r.countDropped(s.Subject, uint64(n-seen))
			seen = n
		}
	}
	defer countNew() // drops since the last report
	for {
		msg, err := s.NextMsgWithContext(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, nats.ErrSlowConsumer):
			countNew()
			continue
		case errors.Is(err, nats.ErrPermissionViolation):
			return fmt.Errorf("%w: %s: %w", ErrLiveRefused, s.Subject, err)
		case err != nil:
			return fmt.Errorf("live events %s: %w", s.Subject, err)
		}
		var e events.Event
		if err := decode(msg.Data, &e); err != nil {
			r.log.Warn("events: undecodable message skipped", "subject", msg.Subject, "err", err)
			continue
		}
		r.mu.Lock()
		if err := CheckOrigin(msg.Subject, e); err != nil {
			dropForged(r.log, r.query, r.forged, msg.Subject, e, err)
			r.mu.Unlock()
			continue
		}
		err = r.fn(e)
		r.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// countDropped counts and logs n messages the client dropped for a slow
// subscriber.
func (r *liveReader) countDropped(subject string, n uint64) {
	r.mu.Lock()
	r.total += n
	total := r.total
	r.mu.Unlock()
	if r.dropped != nil {
		r.dropped.Add(n)
	}
	r.log.Warn("events: live subscription dropped messages: the subscriber was slow; the durable consumer delivers them",
		"subject", subject, "dropped", n, "dropped_total", total)
}
