package natsbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream defaults. Retention is bounded by default because the stream lives
// on SIEM nodes whose disks KUMA needs; -1 in StreamOptions means unlimited.
const (
	DefaultStreamName      = "KUMA_EVENTS"
	DefaultMaxAge          = 7 * 24 * time.Hour
	DefaultMaxBytes        = 1 << 30
	DefaultDuplicateWindow = 2 * time.Minute
)

// DefaultSubjects is what the events stream captures.
var DefaultSubjects = []string{"kuma.>"}

// StreamOptions configures the events stream. Zero values take the defaults.
type StreamOptions struct {
	Name     string
	Subjects []string
	// MaxAge and MaxBytes bound retention; -1 means unlimited.
	MaxAge   time.Duration
	MaxBytes int64
	// Replicas is the number of copies; see ReplicasFor.
	Replicas int
	// DuplicateWindow is how long JetStream remembers message ids; it must
	// outlast the longest outage the outbox resends across.
	DuplicateWindow time.Duration
}

// ReplicasFor is the replica count for a cluster of servers: every server up
// to 3, since R3 survives the loss of one and more copies only cost writes.
func ReplicasFor(servers int) int {
	return max(1, min(3, servers))
}

func (o StreamOptions) config() (jetstream.StreamConfig, error) {
	cfg := jetstream.StreamConfig{
		Name:       o.Name,
		Subjects:   o.Subjects,
		Retention:  jetstream.LimitsPolicy,
		Storage:    jetstream.FileStorage,
		Discard:    jetstream.DiscardOld,
		MaxAge:     o.MaxAge,
		MaxBytes:   o.MaxBytes,
		Replicas:   o.Replicas,
		Duplicates: o.DuplicateWindow,
		// Events leave only by the limits above: the server refuses a purge
		// or a message deletion whoever asks (no identity may anyway; this
		// holds on an external NATS with looser permissions too). Once set,
		// JetStream never lets an update clear them.
		DenyDelete: true,
		DenyPurge:  true,
	}
	if cfg.Name == "" {
		cfg.Name = DefaultStreamName
	}
	if len(cfg.Subjects) == 0 {
		cfg.Subjects = DefaultSubjects
	}
	switch {
	case cfg.MaxAge == 0:
		cfg.MaxAge = DefaultMaxAge
	case cfg.MaxAge < 0:
		cfg.MaxAge = 0
	}
	switch {
	case cfg.MaxBytes == 0:
		cfg.MaxBytes = DefaultMaxBytes
	case cfg.MaxBytes < 0:
		cfg.MaxBytes = -1
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Replicas < 1 || cfg.Replicas > 5 {
		return cfg, fmt.Errorf("stream %s: replicas %d, want 1..5", cfg.Name, cfg.Replicas)
	}
	if cfg.Duplicates == 0 {
		cfg.Duplicates = DefaultDuplicateWindow
	}
	if cfg.Duplicates < 0 {
		return cfg, fmt.Errorf("stream %s: duplicate window %s is negative", cfg.Name, cfg.Duplicates)
	}
	if cfg.MaxAge > 0 && cfg.Duplicates > cfg.MaxAge {
		// JetStream refuses a window longer than the retention.
		cfg.Duplicates = cfg.MaxAge
	}
	return cfg, nil
}

// EnsureStream creates the events stream or updates it to o. Bound ctx and
// retry: while a cluster has no JetStream meta leader (just after start)
// the server drops API requests instead of answering them.
func EnsureStream(ctx context.Context, js jetstream.JetStream, o StreamOptions) (jetstream.Stream, error) {
	cfg, err := o.config()
	if err != nil {
		return nil, err
	}
	s, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return nil, fmt.Errorf("stream %s: exists with a config that cannot be updated: %w", cfg.Name, err)
		}
		return nil, fmt.Errorf("stream %s: create or update: %w", cfg.Name, err)
	}
	return s, nil
}
