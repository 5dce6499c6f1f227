package supervisor

import "context"

// Update is one unit's state as the backend saw it. Err set means the
// backend could not tell (D-Bus error, reconnect): the unit is Unknown.
type Update struct {
	State UnitState
	Err   error
}

// Backend is the init system. Systemd is the real one; Exec serves hosts
// without systemd.
type Backend interface {
	// Watch sends the state of every unit Match accepts: first a snapshot,
	// then on every change, until ctx is done. A lost connection is sent as
	// Updates with Err for every known unit, then a fresh snapshot once
	// reconnected.
	Watch(ctx context.Context, match func(unit string) bool) (<-chan Update, error)
	// State reads one unit now.
	State(ctx context.Context, unit string) (UnitState, error)
	// ResetFailed clears the failed state and the start-limit counter.
	ResetFailed(ctx context.Context, unit string) error
	// Start starts the unit and waits for the start job to finish.
	Start(ctx context.Context, unit string) error
	// Restart restarts a running unit and waits for the job to finish
	// (a hung Core, opt-in).
	Restart(ctx context.Context, unit string) error
}
