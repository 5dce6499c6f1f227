package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrInvalidEvent marks events that can never be published: an outbox should
// drop them rather than retry.
var ErrInvalidEvent = errors.New("invalid event")

// Msg encodes e as the NATS message Publish sends: subject from the event,
// JSON data, and Nats-Msg-Id = e.ID so JetStream drops re-sends.
func Msg(e events.Event) (*nats.Msg, error) {
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrInvalidEvent, e.ID, err)
	}
	data, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrInvalidEvent, e.ID, err)
	}
	m := nats.NewMsg(events.SubjectOf(e))
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, e.ID)
	return m, nil
}

// Publish stores e in JetStream and waits for the acknowledgement. Sending
// the same event again is harmless within the stream's duplicate window.
func Publish(ctx context.Context, js jetstream.JetStream, e events.Event) error {
	m, err := Msg(e)
	if err != nil {
		return err
	}
	if _, err := js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("publish %s to %s: %w", e.ID, m.Subject, err)
	}
	return nil
}
