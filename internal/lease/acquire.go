package lease

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// claim is what Acquire may do with an existing record.
type claim int

const (
	claimRefuse    claim = iota // someone alive holds it
	claimReacquire              // we hold it already
	claimTakeOver               // its holder failed
)

// judge decides on an existing record. Expiry deliberately plays no part:
// see the package doc.
func (m *Manager) judge(cur Record) claim {
	switch {
	case cur.Holder == m.o.Node:
		return claimReacquire
	case m.o.Liveness.Failed(cur.Holder) && !m.o.Now().Before(cur.Expires):
		// Both: the mesh's verdict (a TTL alone is no proof of death) and
		// the expiry (a holder the mesh calls failed may still reach NATS
		// and renew: while it does, it is acting, and must stay the only one).
		return claimTakeOver
	default:
		return claimRefuse
	}
}

// exists reports whether Create lost to an existing record. Create over a
// released key returns the raw wrong-last-sequence error, and replicated
// streams use code 10164, which ErrKeyExists does not match.
func exists(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// Acquire takes the lease of purpose for this node, or returns ErrHeld.
// See the package doc for the rules.
func (m *Manager) Acquire(ctx context.Context, purpose string) (*Lease, error) {
	key, err := Key(purpose)
	if err != nil {
		return nil, err
	}
	defer m.o.Holds.begin(key)()
	for range maxAttempts {
		now := m.o.Now()
		rec := Record{Holder: m.o.Node, Purpose: purpose, Acquired: now.UTC(), Expires: now.Add(m.o.TTL).UTC()}
		val, err := rec.encode()
		if err != nil {
			return nil, err
		}
		rev, err := m.kv.Create(ctx, key, val)
		if err == nil {
			m.emit(events.LeaseAcquired, rec, "")
			return m.lease(key, rec, rev), nil
		}
		if !exists(err) {
			return nil, fmt.Errorf("lease %q: create: %w", purpose, err)
		}
		entry, err := m.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // released between our Create and Get
		}
		if err != nil {
			return nil, fmt.Errorf("lease %q: read holder: %w", purpose, err)
		}
		cur, err := decodeRecord(key, entry.Revision(), entry.Value())
		if err != nil {
			return nil, err
		}
		c := m.judge(cur)
		if c == claimRefuse {
			return nil, ErrHeld{Purpose: purpose, Holder: cur.Holder, Expires: cur.Expires}
		}
		rev, err = m.kv.Update(ctx, key, val, entry.Revision())
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue // someone else wrote meanwhile; judge the new record
		}
		if err != nil {
			return nil, fmt.Errorf("lease %q: update revision %d: %w", purpose, entry.Revision(), err)
		}
		if c == claimTakeOver {
			m.o.Logger.Warn("lease taken over from failed holder", "purpose", purpose, "previous", cur.Holder)
			m.emit(events.LeaseTakenOver, rec, cur.Holder)
		} else {
			m.emit(events.LeaseAcquired, rec, "")
		}
		return m.lease(key, rec, rev), nil
	}
	return nil, fmt.Errorf("lease %q: record kept changing; gave up after %d attempts", purpose, maxAttempts)
}
