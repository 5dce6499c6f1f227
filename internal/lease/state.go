package lease

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// A lease may carry a small state record beside it in the bucket: what its
// holder must hand to the next holder (the cluster evaluator's published
// statuses, so a new evaluator does not raise again what the old one
// raised). Its key is "state." + the purpose's key: Key never yields a '.',
// so no lease purpose can name a state key.
const statePrefix = "state."

// MaxStateSize bounds a state record; the bucket refuses values above its
// own bound (bucketMaxValueSize), so a holder must fit its state in this.
const MaxStateSize = bucketMaxValueSize - 256

func stateKey(purpose string) (string, error) {
	k, err := Key(purpose)
	if err != nil {
		return "", err
	}
	return statePrefix + k, nil
}

// WithTTL is a Manager of the same bucket and node whose leases last ttl
// and are renewed every ttl/3 by KeepAlive: a purpose whose work has its own
// pace (the cluster evaluator's interval) gets a TTL to match.
func (m *Manager) WithTTL(ttl time.Duration) (*Manager, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("lease: TTL %s must be positive", ttl)
	}
	o := m.o
	o.TTL, o.RenewEvery = ttl, ttl/3 // o.Holds stays shared
	return &Manager{kv: m.kv, o: o}, nil
}

// ReadState reads the state record of purpose; ok is false when none was
// written. Anyone may read it (a holder-to-be, a CLI asking for the latest
// evaluation).
func (m *Manager) ReadState(ctx context.Context, purpose string) (_ []byte, ok bool, _ error) {
	key, err := stateKey(purpose)
	if err != nil {
		return nil, false, err
	}
	e, err := m.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("lease %q: read state: %w", purpose, err)
	}
	return e.Value(), true, nil
}

// WriteState stores the lease's state record. Only the holder writes it: it
// renews the lease first (a CAS), so a holder that lost the lease gets
// ErrLost and writes nothing. A takeover needs the holder failed and its
// lease expired, and the renewal just pushed the expiry one TTL ahead, so
// no new holder can have read the state before this write lands.
func (l *Lease) WriteState(ctx context.Context, val []byte) error {
	if len(val) > MaxStateSize {
		return fmt.Errorf("lease %q: state of %d bytes, limit %d", l.Record().Purpose, len(val), MaxStateSize)
	}
	if err := l.Renew(ctx); err != nil {
		return err
	}
	key, err := stateKey(l.Record().Purpose)
	if err != nil {
		return err
	}
	if _, err := l.m.kv.Put(ctx, key, val); err != nil {
		return fmt.Errorf("lease %q: write state: %w", l.Record().Purpose, err)
	}
	return nil
}
