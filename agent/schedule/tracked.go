package schedule

import (
	"context"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
)

// tracked is one run's check body as handed to checks.Runner: done closes
// when the body returns, which the runner does not wait for once the run's
// context is cancelled (it runs the body in a goroutine of its own).
type tracked struct {
	checks.Check
	timeout time.Duration // the entry's deadline, forwarded to the runner
	done    chan struct{}
}

func (b *tracked) Run(ctx context.Context) checks.Result {
	defer close(b.done)
	return b.Check.Run(ctx)
}

// Timeout keeps the runner's deadline the entry's (the wrapping hides the
// check's own Timeouter).
func (b *tracked) Timeout() time.Duration { return b.timeout }

// wait returns when the body has returned or deadline has passed.
func (b *tracked) wait(deadline time.Time) {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-b.done:
	case <-t.C:
	}
}
