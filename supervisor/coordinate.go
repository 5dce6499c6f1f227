package supervisor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// outcomeKind is how one coordinated action ended.
type outcomeKind int

const (
	refused  outcomeKind = iota // guard, lease or unknown state said no; retried later
	noop                        // the state had already changed: nothing to do
	proposed                    // dry-run: proposed, not done
	done                        // performed and the unit came back
	failed                      // performed but the unit did not come back
)

type outcome struct {
	kind   outcomeKind
	reason string
}

// refusal is a confirm's "no" with its reason (a quorum that would be
// lost), as opposed to an error reading the state.
type refusal struct{ reason string }

func (r refusal) Error() string { return r.reason }

// job is one action with the two steps the coordinator cannot know:
// confirm re-reads the state right before acting (nothing is done on a
// stale or unknown reading), do performs it and says how it went.
type job struct {
	action  Action
	reason  string // why the action is wanted, for events
	attempt int
	since   time.Time // when the unit entered the state being healed
	dryRun  bool      // propose only, whatever the supervisor's mode
	confirm func(ctx context.Context) (bool, error)
	do      func(ctx context.Context) (string, error)
}

// coordinate runs j under the guard and, for a quorum group, the cluster
// lease, which is held until do returns so that no two nodes act at once.
func (s *Supervisor) coordinate(ctx context.Context, j job) outcome {
	a := j.action
	if a.Group != NoGroup {
		if err := s.o.Guard.Allow(a, s.peers()); err != nil {
			return outcome{refused, err.Error()}
		}
		lock, err := s.acquire(ctx)
		if err != nil {
			return outcome{refused, err.Error()}
		}
		if lock != nil {
			defer func() {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				if err := lock.Release(rctx); err != nil {
					s.log.Warn("lease release", "err", err)
				}
			}()
			// The mesh may have changed while we waited for the lease.
			if err := s.o.Guard.Allow(a, s.peers()); err != nil {
				return outcome{refused, err.Error()}
			}
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			defer cancel()
			go func() {
				select {
				case <-lock.Lost():
					s.log.Error("lease lost during an action: abandoning the wait", "unit", a.Unit)
					cancel()
				case <-ctx.Done():
				}
			}()
		}
	}
	ok, err := j.confirm(ctx)
	var no refusal
	if errors.As(err, &no) {
		return outcome{refused, no.reason}
	}
	if err != nil {
		return outcome{refused, fmt.Sprintf("state of %s unknown (%v): no action", a.Unit, err)}
	}
	if !ok {
		return outcome{noop, ""}
	}
	data := events.HealingData{Unit: a.Unit, Action: a.Verb, Reason: j.reason, Attempt: j.attempt, Group: string(a.Group)}
	if !j.since.IsZero() {
		data.ReactionMS = float64(s.o.Now().Sub(j.since).Microseconds()) / 1000
	}
	if s.o.DryRun || j.dryRun {
		data.DryRun = true
		s.emit(events.HealingProposed, a.Unit, events.SeverityWarning, data)
		return outcome{proposed, ""}
	}
	s.emit(events.HealingStarted, a.Unit, events.SeverityWarning, data)
	s.metrics.reaction(data.ReactionMS)
	start := s.o.Now()
	result, err := j.do(ctx)
	data.ReactionMS = 0
	data.DurationMS = float64(s.o.Now().Sub(start).Microseconds()) / 1000
	data.Result = result
	if err != nil {
		data.Reason = err.Error()
		s.emit(events.HealingFinished, a.Unit, events.SeverityCritical, data)
		return outcome{failed, err.Error()}
	}
	s.emit(events.HealingFinished, a.Unit, events.SeverityInfo, data)
	return outcome{done, ""}
}

// acquire takes the cluster lease. A single-host cluster needs none.
func (s *Supervisor) acquire(ctx context.Context) (Lock, error) {
	if s.o.Locker == nil {
		if s.o.Guard.ClusterSize() <= 1 {
			return nil, nil
		}
		return nil, errors.New("lease: no coordination lease (events are disabled): quorum-critical units are not healed")
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	l, err := s.o.Locker.Acquire(actx, LeasePurpose)
	if err != nil && !strings.HasPrefix(err.Error(), "lease") {
		return nil, fmt.Errorf("lease: %w", err)
	}
	if err != nil {
		return nil, err
	}
	return l, nil
}
