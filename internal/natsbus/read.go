package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
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
	// Logger gets warnings about undecodable and forged messages; nil
	// means slog.Default().
	Logger *slog.Logger
	// Forged, when set, counts the events dropped because their source
	// is not the node of their subject (see CheckOrigin).
	Forged *atomic.Uint64
}

// forged counts one more forged event and returns the count so far.
func (q Query) forged(n *uint64) uint64 {
	*n++
	if q.Forged != nil {
		q.Forged.Add(1)
	}
	return *n
}

// CheckOrigin tells whether e may have come on subject. The servers let
// an identity publish only on its own node's subjects, so the subject is
// the proof of which node published; an event whose source (or cluster,
// or type) is not the one its subject names was forged by another node's
// identity and must be dropped.
func CheckOrigin(subject string, e events.Event) error {
	if want := events.SubjectOf(e); subject != want {
		return fmt.Errorf("event %s from %s came on subject %s, not %s: forged by another node", e.ID, e.Source, subject, want)
	}
	return nil
}

// dropForged logs a forged event with the count of them so far.
func dropForged(log *slog.Logger, q Query, n *uint64, subject string, e events.Event, err error) {
	log.Warn("events: forged event dropped: its source is not the node of its subject", "subject", subject,
		"source", e.Source, "type", e.Type, "event_id", e.ID, "forged_dropped", q.forged(n), "err", err)
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
	var forged uint64
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
		} else if err := CheckOrigin(msg.Subject(), e); err != nil {
			dropForged(log, q, &forged, msg.Subject(), e, err)
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
