package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/nats-io/nats.go/jetstream"
)

// Query selects events for Read. Zero fields select everything.
type Query struct {
	Types []events.Type
	// Node is an inventory node name; Cluster a cluster name.
	Node    string
	Since   time.Time
	Follow  bool
	Cluster string
	// Logger gets warnings about undecodable messages; nil means slog.Default().
	Logger *slog.Logger
}

// Subjects is the subject filter of q: one per type, or none for all events.
func (q Query) Subjects() ([]string, error) {
	if len(q.Types) == 0 && q.Node == "" && q.Cluster == "" {
		return nil, nil
	}
	cluster, node := "*", "*"
	if q.Cluster != "" {
		cluster = events.Token(q.Cluster)
	}
	if q.Node != "" {
		node = events.Token(q.Node)
	}
	prefix := "kuma." + cluster + "." + node + "."
	if len(q.Types) == 0 {
		return []string{prefix + ">"}, nil
	}
	subjects := make([]string, 0, len(q.Types))
	for _, t := range q.Types {
		if !slices.Contains(events.Types, t) {
			return nil, fmt.Errorf("query: unknown event type %q", t)
		}
		s := prefix + string(t)
		if !slices.Contains(subjects, s) {
			subjects = append(subjects, s)
		}
	}
	return subjects, nil
}

// Read calls fn for each event of stream matching q, oldest first. Without
// q.Follow it returns once it has delivered everything stored when it
// started; with q.Follow it waits for new events until ctx is done (and then
// returns nil). An error from fn stops Read and is returned.
func Read(ctx context.Context, js jetstream.JetStream, stream string, q Query, fn func(events.Event) error) error {
	log := q.Logger
	if log == nil {
		log = slog.Default()
	}
	subjects, err := q.Subjects()
	if err != nil {
		return err
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: subjects, DeliverPolicy: jetstream.DeliverAllPolicy}
	if !q.Since.IsZero() {
		since := q.Since
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cfg.OptStartTime = &since
	}
	cons, err := js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return fmt.Errorf("read %s: consumer: %w", stream, err)
	}
	if !q.Follow {
		// The ordered consumer is created eagerly, so its info says how many
		// matching messages there are; none means nothing will ever arrive.
		if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
			return nil
		}
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("read %s: messages: %w", stream, err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				if q.Follow {
					return nil
				}
				return fmt.Errorf("read %s: %w", stream, ctx.Err())
			}
			return fmt.Errorf("read %s: next: %w", stream, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			log.Warn("events: message without metadata skipped", "subject", msg.Subject(), "err", err)
			continue
		}
		var e events.Event
		if err := decode(msg.Data(), &e); err != nil {
			log.Warn("events: undecodable message skipped", "subject", msg.Subject(),
				"sequence", meta.Sequence.Stream, "err", err)
		} else if err := fn(e); err != nil {
			return err
		}
		if !q.Follow && meta.NumPending == 0 {
			return nil
		}
	}
}

func decode(data []byte, e *events.Event) error {
	if err := json.Unmarshal(data, e); err != nil {
		return err
	}
	if err := e.Validate(); err != nil {
		return errors.Join(errors.New("not a kuma-agent event"), err)
	}
	return nil
}
