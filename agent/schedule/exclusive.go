package schedule

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
)

// exclusive keeps a check from running twice at once even when a run
// outlives its deadline: the runner reports such a run unknown and moves on,
// leaving its goroutine to finish, so the per-check lock alone would let the
// next run start beside it. The next run reports unknown instead.
type exclusive struct {
	checks.Check
	busy atomic.Bool
}

func (x *exclusive) Run(ctx context.Context) checks.Result {
	if !x.busy.CompareAndSwap(false, true) {
		return checks.Unknownf("the previous run is still in progress",
			"the check ignored its deadline; look for what it waits on (a hung mount, an unanswered DNS query)")
	}
	defer x.busy.Store(false)
	return x.Check.Run(ctx)
}

// Timeout forwards the wrapped check's own deadline, if any.
func (x *exclusive) Timeout() time.Duration {
	if t, ok := x.Check.(checks.Timeouter); ok {
		return t.Timeout()
	}
	return 0
}
