package outbox

import (
	"context"

	"github.com/kuma-agent/kuma-agent/events"
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
