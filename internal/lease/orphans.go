package lease

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// ReleaseOrphans deletes the records of purposes that name this node as
// holder while nothing in this process holds or is acquiring them (see
// [Holds]): a release whose Delete failed, or a lease of an agent that
// restarted mid-action. Each Delete is a CAS on the revision read, so a
// record re-acquired meanwhile (by this node: a new revision) is left
// alone. The purposes are named rather than listed from the bucket: an
// agent's NATS user may read and write keys but not create the consumer a
// key listing needs. The agent calls it every TTL. It returns how many it
// released; an error names the first record it could not read or delete,
// after trying all.
func (m *Manager) ReleaseOrphans(ctx context.Context, purposes ...string) (int, error) {
	var n int
	var first error
	fail := func(err error) {
		if first == nil {
			first = err
		}
	}
	for _, purpose := range purposes {
		key, err := Key(purpose)
		if err != nil {
			fail(err)
			continue
		}
		if m.o.Holds.active(key) {
			continue
		}
		entry, err := m.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			fail(fmt.Errorf("lease orphans: read %q: %w", key, err))
			continue
		}
		rec, err := decodeRecord(key, entry.Revision(), entry.Value())
		if err != nil {
			fail(fmt.Errorf("lease orphans: %w", err))
			continue
		}
		// Checked again after the read: an Acquire that began in between
		// may be about to register the record it wrote.
		if rec.Holder != m.o.Node || m.o.Holds.active(key) {
			continue
		}
		err = m.kv.Delete(ctx, key, jetstream.LastRevision(entry.Revision()))
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue // written meanwhile: judged on the next sweep
		}
		if err != nil {
			fail(fmt.Errorf("lease orphans: release %q revision %d: %w", key, entry.Revision(), err))
			continue
		}
		n++
		m.o.Logger.Warn("released a lease record of this node that nothing here held", "purpose", rec.Purpose, "revision", entry.Revision(), "expired", !m.o.Now().Before(rec.Expires))
		m.emit(events.LeaseReleased, rec, "")
	}
	return n, first
}
