package natsbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// DefaultAckTimeout bounds the wait for one publish's acknowledgement.
const DefaultAckTimeout = 5 * time.Second

// AsyncPublisher stores events in JetStream without waiting for each
// acknowledgement: PublishAsync sends and returns a PubAck to wait on. The
// caller bounds how many are in flight (outbox.DrainWindow does).
//
// Its connection must not buffer publishes across a reconnect
// (ClientOptions.NoReconnectBuffer): the buffer would send, after a
// reconnect, events that follow others lost with the old connection.
type AsyncPublisher struct {
	js jetstream.JetStream
}

// NewAsyncPublisher publishes on nc with at most maxPending publishes
// unacknowledged (the client stalls beyond) and each acknowledgement awaited
// at most ackTimeout (0: DefaultAckTimeout).
func NewAsyncPublisher(nc *nats.Conn, maxPending int, ackTimeout time.Duration) (*AsyncPublisher, error) {
	if nc.Opts.ReconnectBufSize >= 0 {
		return nil, errors.New("natsbus: async publisher on a connection that buffers across reconnects (set ClientOptions.NoReconnectBuffer)")
	}
	if ackTimeout <= 0 {
		ackTimeout = DefaultAckTimeout
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(max(maxPending, 1)),
		jetstream.WithPublishAsyncTimeout(ackTimeout))
	if err != nil {
		return nil, fmt.Errorf("natsbus: async publisher: %w", err)
	}
	return &AsyncPublisher{js: js}, nil
}

// PublishAsync sends e (Nats-Msg-Id = e.ID, as Publish) and returns its
// pending acknowledgement. An invalid event is an ErrInvalidEvent at once.
// The client's own re-send on "no responders" is off: a re-send it made
// later could land behind events sent after it; the caller re-sends, in
// order, from the first unacknowledged event.
func (p *AsyncPublisher) PublishAsync(e events.Event) (*PubAck, error) {
	m, err := Msg(e)
	if err != nil {
		return nil, err
	}
	f, err := p.js.PublishMsgAsync(m, jetstream.WithRetryAttempts(0))
	if err != nil {
		return nil, fmt.Errorf("publish %s to %s: %w", e.ID, m.Subject, err)
	}
	return &PubAck{f: f, id: e.ID, subject: m.Subject}, nil
}

// PubAck is one publish's pending acknowledgement. It is for one goroutine:
// Wait and Done may be called again and report the same outcome.
type PubAck struct {
	f           jetstream.PubAckFuture
	id, subject string
	done        bool
	err         error
}

// Wait blocks until JetStream acknowledged the event (nil), refused it,
// the acknowledgement timed out or the connection was lost (an error), or
// ctx ends (ctx.Err(), the outcome still open).
func (a *PubAck) Wait(ctx context.Context) error {
	if a.done {
		return a.err
	}
	select {
	case <-a.f.Ok():
		a.done = true
	case err := <-a.f.Err():
		a.done, a.err = true, fmt.Errorf("publish %s to %s: %w", a.id, a.subject, err)
	case <-ctx.Done():
		return ctx.Err()
	}
	return a.err
}

// Done reports, without blocking, whether the outcome is known, and it.
func (a *PubAck) Done() (bool, error) {
	if a.done {
		return true, a.err
	}
	select {
	case <-a.f.Ok():
		a.done = true
	case err := <-a.f.Err():
		a.done, a.err = true, fmt.Errorf("publish %s to %s: %w", a.id, a.subject, err)
	default:
	}
	return a.done, a.err
}

// Refused says the event was certainly not stored: no stream listened (no
// responders, as while the stream has no leader): outbox.DrainWindow may re-send
// it at once instead of waiting for older acknowledgements.
func (a *PubAck) Refused() bool {
	return a.done && errors.Is(a.err, jetstream.ErrNoStreamResponse)
}
