package lease

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// Lease is a held lease. Its methods are safe for concurrent use.
type Lease struct {
	m   *Manager
	key string

	mu       sync.Mutex
	rec      Record
	rev      uint64
	released bool
}

func (m *Manager) lease(key string, rec Record, rev uint64) *Lease {
	l := &Lease{m: m, key: key, rec: rec, rev: rev}
	m.o.Holds.hold(key, l)
	return l
}

// Record is the record as this lease last wrote it.
func (l *Lease) Record() Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rec
}

// Revision is the KV revision this lease last wrote.
func (l *Lease) Revision() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rev
}

func (l *Lease) isReleased() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.released
}

// Renew extends the lease by TTL with a CAS on its revision. ErrLost means
// the revision moved: the lease is no longer ours.
func (l *Lease) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return fmt.Errorf("lease %q: renew after release: %w", l.rec.Purpose, ErrLost)
	}
	rec := l.rec
	rec.Expires = l.m.o.Now().Add(l.m.o.TTL).UTC()
	val, err := rec.encode()
	if err != nil {
		return err
	}
	rev, err := l.m.kv.Update(ctx, l.key, val, l.rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		l.m.o.Holds.drop(l.key, l) // not ours any more: nothing here holds it
		return fmt.Errorf("lease %q: revision %d moved: %w", rec.Purpose, l.rev, ErrLost)
	}
	if err != nil {
		return fmt.Errorf("lease %q: renew revision %d: %w", rec.Purpose, l.rev, err)
	}
	l.rec, l.rev = rec, rev
	l.m.emit(events.LeaseRenewed, rec, "")
	return nil
}

// Release deletes the lease with a CAS on its revision, so a lease taken
// over meanwhile is left alone (and ErrLost returned). The holder has
// stopped either way: when the Delete fails (NATS unreachable, no
// JetStream quorum) the lease is still given up here, and its record is
// left to [Manager.ReleaseOrphans], which retries the Delete.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	l.released = true
	defer l.m.o.Holds.drop(l.key, l)
	err := l.m.kv.Delete(ctx, l.key, jetstream.LastRevision(l.rev))
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return fmt.Errorf("lease %q: revision %d moved: %w", l.rec.Purpose, l.rev, ErrLost)
	}
	if err != nil {
		return fmt.Errorf("lease %q: release revision %d: %w (its record is released by the orphan sweep)", l.rec.Purpose, l.rev, err)
	}
	l.m.emit(events.LeaseReleased, l.rec, "")
	return nil
}

// KeepAlive renews every RenewEvery until ctx is done or the lease is lost.
// The channel receives at most one error — ErrLost, or ErrExpired when
// renewals failed until the lease's expiry — and is closed when KeepAlive
// stops. Transient renewal errors before expiry are logged and retried.
func (l *Lease) KeepAlive(ctx context.Context) <-chan error {
	out := make(chan error, 1)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case <-l.m.o.After(l.m.o.RenewEvery):
			}
			err := l.Renew(ctx)
			switch {
			case err == nil:
				continue
			case ctx.Err() != nil || l.isReleased():
				return // stopping or released on purpose is not a loss
			case errors.Is(err, ErrLost):
				out <- err
				return
			}
			expires := l.Record().Expires
			if !l.m.o.Now().Before(expires) {
				out <- fmt.Errorf("lease %q: expired at %s: %w (last error: %w)", l.Record().Purpose, expires.Format(time.RFC3339), ErrExpired, err)
				return
			}
			l.m.o.Logger.Warn("lease renewal failed; retrying", "purpose", l.Record().Purpose, "expires", expires, "err", err)
		}
	}()
	return out
}
