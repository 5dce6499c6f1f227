package alerts

import (
	"context"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/natsbus"
)

// DurableSource feeds the subscriber from its durable consumer on the
// events stream: each event is acknowledged once its actions ran, so
// events stored while the subscriber was down come when it is back.
type DurableSource struct {
	JS      jetstream.JetStream
	Stream  string // "" means natsbus.DefaultStreamName
	Durable natsbus.Durable
}

func (s DurableSource) EventsAck(ctx context.Context, fn func(events.Event, func(bool)) error) error {
	stream := s.Stream
	if stream == "" {
		stream = natsbus.DefaultStreamName
	}
	return natsbus.ReadDurable(ctx, s.JS, stream, s.Durable, func(e events.Event, settle natsbus.Settle) error {
		return fn(e, settle)
	})
}

// Events acknowledges each event as soon as fn took it.
func (s DurableSource) Events(ctx context.Context, fn func(events.Event) error) error {
	return s.EventsAck(ctx, func(e events.Event, settle func(bool)) error {
		err := fn(e)
		settle(true)
		return err
	})
}

// LiveSource feeds the subscriber from a core-NATS subscription to the
// events subjects (natsbus.ReadLive): at once, nothing kept.
type LiveSource struct {
	Conn *nats.Conn
	Live natsbus.Live
}

func (s LiveSource) Events(ctx context.Context, fn func(events.Event) error) error {
	return natsbus.ReadLive(ctx, s.Conn, s.Live, fn)
}
