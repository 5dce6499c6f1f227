package agent

import (
	"context"
	"time"
)

// evalLease is the evaluator's cluster lease over the supervisor's lease
// locker (the bucket the events' NATS connection feeds): the same bucket
// and rules as "heal", with a TTL paced by the check interval.
type evalLease struct {
	l   *leaseLocker
	ttl time.Duration
}

func (c evalLease) Acquire(ctx context.Context) (evalHold, error) {
	m, err := c.l.manager()
	if err != nil {
		return nil, err
	}
	if m, err = m.WithTTL(c.ttl); err != nil {
		return nil, err
	}
	le, err := m.Acquire(ctx, evaluatorPurpose)
	if err != nil {
		return nil, err
	}
	kctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &evalHeld{heldLease{l: le, lost: le.KeepAlive(kctx), stop: cancel}}, nil
}

func (c evalLease) ReadState(ctx context.Context) ([]byte, bool, error) {
	m, err := c.l.manager()
	if err != nil {
		return nil, false, err
	}
	return m.ReadState(ctx, evaluatorPurpose)
}

// evalHeld is the held evaluator lease: the supervisor's held lease plus
// the state written beside it.
type evalHeld struct{ heldLease }

func (h *evalHeld) WriteState(ctx context.Context, b []byte) error { return h.l.WriteState(ctx, b) }
