package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// Liveness is the mesh's verdict on a node. Failed must be true only when
// serf marks the node failed or left — never on "cannot tell" — because it
// is what lets another node take the node's leases.
type Liveness interface {
	Failed(node string) bool
}

// Options configure a Manager. Node and Liveness are required.
type Options struct {
	Bucket     string        // KV bucket; default "kuma_leases"
	Node       string        // this agent's node name, the holder it writes
	TTL        time.Duration // how long a write claims the lease; default 15s
	RenewEvery time.Duration // KeepAlive period; default TTL/3
	Liveness   Liveness
	OnEvent    func(events.Type, events.LeaseData) // lease.acquired|renewed|released|taken_over; may be nil
	Now        func() time.Time                    // default time.Now
	// After is KeepAlive's timer; default time.After. Tests drive it by hand.
	After    func(time.Duration) <-chan time.Time
	Logger   *slog.Logger // default discards
	Replicas int          // bucket replicas; default 1, use 3 on a 3-node cluster
	// Holds is this process's memory of its leases, shared by all its
	// Managers (see [Holds]); default a new one for this Manager.
	Holds *Holds
}

// DefaultBucket is the bucket used when Options.Bucket is empty.
const DefaultBucket = "kuma_leases"

// The bucket's bounds: a lease record is about 200 bytes and there is one
// key per purpose, so these are far above use and keep a runaway writer
// from filling the JetStream servers' disks (a full bucket refuses writes:
// it never drops a lease).
const (
	bucketMaxBytes     = 8 << 20
	bucketMaxValueSize = 4 << 10
)

// maxAttempts bounds Acquire's retries when the record changes between
// reading and writing it; more means heavy contention, reported as an error.
const maxAttempts = 5

// Manager acquires leases for one node.
type Manager struct {
	kv jetstream.KeyValue
	o  Options
}

// New creates the bucket, or binds to it if it exists, and returns a
// Manager for o.Node.
func New(ctx context.Context, js jetstream.JetStream, o Options) (*Manager, error) {
	if js == nil {
		return nil, errors.New("lease: jetstream context is nil")
	}
	if o.Node == "" {
		return nil, errors.New("lease: option Node is empty")
	}
	if o.Liveness == nil {
		return nil, errors.New("lease: option Liveness is nil")
	}
	if o.TTL < 0 || o.RenewEvery < 0 || o.Replicas < 0 {
		return nil, fmt.Errorf("lease: negative option (TTL %s, RenewEvery %s, Replicas %d)", o.TTL, o.RenewEvery, o.Replicas)
	}
	if o.Bucket == "" {
		o.Bucket = DefaultBucket
	}
	if o.TTL == 0 {
		o.TTL = 15 * time.Second
	}
	if o.RenewEvery == 0 {
		o.RenewEvery = o.TTL / 3
	}
	if o.RenewEvery >= o.TTL {
		return nil, fmt.Errorf("lease: option RenewEvery %s must be shorter than TTL %s", o.RenewEvery, o.TTL)
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Holds == nil {
		o.Holds = NewHolds()
	}
	kv, err := bucket(ctx, js, o)
	if err != nil {
		return nil, fmt.Errorf("lease: bucket %q (replicas %d): %w", o.Bucket, o.Replicas, err)
	}
	return &Manager{kv: kv, o: o}, nil
}

// bucket binds to the bucket or creates it. Every agent starts at once
// after a cluster boot; concurrent create-or-update calls of one
// replicated stream were seen to stall for 30 s, so an existing bucket is
// bound, not updated, and a lost creation race binds to the winner's.
func bucket(ctx context.Context, js jetstream.JetStream, o Options) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, o.Bucket)
	if err == nil || !errors.Is(err, jetstream.ErrBucketNotFound) {
		return kv, err
	}
	kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:       o.Bucket,
		Description:  "kuma-agent coordination leases",
		History:      1,
		Replicas:     o.Replicas,
		MaxBytes:     bucketMaxBytes,
		MaxValueSize: bucketMaxValueSize,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		return js.KeyValue(ctx, o.Bucket)
	}
	return kv, err
}

// Holder reads the lease record of purpose. ok is false when nobody holds
// it (never acquired or released).
func (m *Manager) Holder(ctx context.Context, purpose string) (Record, uint64, bool, error) {
	key, err := Key(purpose)
	if err != nil {
		return Record{}, 0, false, err
	}
	entry, err := m.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Record{}, 0, false, nil
	}
	if err != nil {
		return Record{}, 0, false, fmt.Errorf("lease %q: read: %w", purpose, err)
	}
	rec, err := decodeRecord(key, entry.Revision(), entry.Value())
	if err != nil {
		return Record{}, 0, false, err
	}
	return rec, entry.Revision(), true, nil
}

func (m *Manager) emit(t events.Type, rec Record, previous string) {
	if m.o.OnEvent == nil {
		return
	}
	m.o.OnEvent(t, events.LeaseData{Purpose: rec.Purpose, Holder: rec.Holder, Previous: previous, ExpiresAt: rec.Expires})
}
