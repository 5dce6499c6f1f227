package alerts

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/retry"
)

// retrier is the retry loop of the actions that send over the network
// (webhook, cef): up to Retries repeats of a failed attempt that may
// succeed later, waiting retry.Backoff's delays between them. The loop is
// its own rather than retry.Do's: the number of retries is bounded and
// some errors are final.
type retrier struct {
	kind, name string // "webhook", "ops": for errors and logs
	retries    int
	backoff    retry.Backoff
	sleep      func(context.Context, time.Duration) error
	log        *slog.Logger
}

func newRetrier(kind, name string, cfg Action, sleep func(context.Context, time.Duration) error, rand func() float64, log *slog.Logger) retrier {
	return retrier{kind: kind, name: name, retries: cfg.Retries,
		backoff: retry.Backoff{Min: cfg.Backoff, Max: cfg.MaxBackoff, Rand: rand}, sleep: sleep, log: log}
}

// run calls attempt until it succeeds, its error is final (again false),
// the retries are spent or ctx ends.
func (r retrier) run(ctx context.Context, j job, attempt func(ctx context.Context) (again bool, err error)) error {
	for n := 0; ; n++ {
		again, err := attempt(ctx)
		if err == nil {
			return nil
		}
		if !again || n >= r.retries || ctx.Err() != nil {
			return fmt.Errorf("%s %s: attempt %d: %w", r.kind, r.name, n+1, err)
		}
		wait := r.backoff.Delay(n)
		r.log.Warn(r.kind+" failed; retrying", "action", r.name, "event_id", j.ev.ID, "attempt", n+1, "wait", wait, "err", err)
		if err := r.sleep(ctx, wait); err != nil {
			return fmt.Errorf("%s %s: waiting to retry: %w", r.kind, r.name, err)
		}
	}
}
