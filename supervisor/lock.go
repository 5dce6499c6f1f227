package supervisor

import "context"

// LeasePurpose is the cluster lease every quorum-critical action takes:
// one name for all, so that only one node heals at a time.
const LeasePurpose = "heal"

// Locker hands out the cluster lease (the lease package over JetStream KV
// in the agent).
type Locker interface {
	// Acquire takes the lease or returns an error saying who holds it or
	// why it cannot be had (NATS unreachable, minority side).
	Acquire(ctx context.Context, purpose string) (Lock, error)
}

// Lock is a held lease, renewed until released.
type Lock interface {
	// Lost is closed (or receives) when the lease could not be renewed:
	// the action must stop waiting and give the lease up.
	Lost() <-chan error
	Release(ctx context.Context) error
}
