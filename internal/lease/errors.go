package lease

import (
	"errors"
	"fmt"
	"time"
)

// ErrHeld refuses an Acquire: another node holds the lease and the mesh
// does not say it failed. Expires may be in the past (see the package doc).
type ErrHeld struct {
	Purpose string
	Holder  string
	Expires time.Time
}

func (e ErrHeld) Error() string {
	return fmt.Sprintf("lease %q is held by %s (expires %s)", e.Purpose, e.Holder, e.Expires.UTC().Format(time.RFC3339))
}

// ErrLost means the lease's revision moved: someone took it over or it was
// re-acquired or released elsewhere. The holder must stop the guarded work.
var ErrLost = errors.New("lease lost")

// ErrExpired means renewals failed until the lease's own expiry passed; the
// holder can no longer tell whether it still holds the lease.
var ErrExpired = errors.New("lease expired without a successful renewal")
