package supervisor

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Exec is the backend for hosts without systemd: it polls a status
// command per unit and runs start/reset commands. Status exit codes follow
// LSB `status`: 0 running, 3 stopped, 1 or 2 dead (failed), other unknown.
type Exec struct {
	Units     []string
	StatusCmd []string // templates with {{.Unit}}
	StartCmd  []string
	ResetCmd  []string // optional
	Poll      time.Duration
	Runner    Runner
}

var _ Backend = (*Exec)(nil)

// lsbStates maps a status exit code to what systemd would have said.
var lsbStates = map[int]UnitState{
	0: {LoadState: "loaded", ActiveState: "active", SubState: "running"},
	1: {LoadState: "loaded", ActiveState: "failed", SubState: "dead", Result: "exit-code"},
	2: {LoadState: "loaded", ActiveState: "failed", SubState: "dead", Result: "exit-code"},
	3: {LoadState: "loaded", ActiveState: "inactive", SubState: "dead"},
}

func (e *Exec) runner() Runner {
	if e.Runner == nil {
		return defaultRunner()
	}
	return e.Runner
}

// State implements Backend.
func (e *Exec) State(ctx context.Context, unit string) (UnitState, error) {
	argv, err := expand(e.StatusCmd, map[string]string{"Unit": unit})
	if err != nil {
		return UnitState{}, err
	}
	_, err = e.runner().Run(ctx, argv)
	code, exited := exitCode(err)
	if err != nil && !exited {
		return UnitState{}, err
	}
	st, ok := lsbStates[code]
	if !ok {
		return UnitState{}, fmt.Errorf("unit %s: status exit code %d means unknown", unit, code)
	}
	st.Name = unit
	return st, nil
}

// Restart implements Backend: the exec backend has no restart command, so
// a hung Core is reported, never restarted here.
func (e *Exec) Restart(context.Context, string) error {
	return errors.New("the exec backend has no restart command: restart the unit by hand")
}

// ResetFailed implements Backend; without a command it does nothing.
func (e *Exec) ResetFailed(ctx context.Context, unit string) error {
	if len(e.ResetCmd) == 0 {
		return nil
	}
	return e.run(ctx, e.ResetCmd, unit)
}

// Start implements Backend.
func (e *Exec) Start(ctx context.Context, unit string) error { return e.run(ctx, e.StartCmd, unit) }

func (e *Exec) run(ctx context.Context, tmpl []string, unit string) error {
	argv, err := expand(tmpl, map[string]string{"Unit": unit})
	if err != nil {
		return err
	}
	_, err = e.runner().Run(ctx, argv)
	return err
}

// minStatusTimeout bounds one status command at least this long: a short
// poll interval must not turn a loaded host's slow `status` into unknown.
const minStatusTimeout = 5 * time.Second

// Watch implements Backend by polling: there is no change signal.
func (e *Exec) Watch(ctx context.Context, match func(string) bool) (<-chan Update, error) {
	poll := e.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	out := make(chan Update, len(e.Units))
	go func() {
		defer close(out)
		last := map[string]UnitState{}
		t := time.NewTicker(poll)
		defer t.Stop()
		for {
			for _, u := range e.Units {
				if !match(u) {
					continue
				}
				sctx, cancel := context.WithTimeout(ctx, max(poll, minStatusTimeout))
				st, err := e.State(sctx, u)
				cancel()
				if err == nil && last[u] == st {
					continue
				}
				if err == nil {
					last[u] = st
				} else {
					delete(last, u)
				}
				if !send(ctx, out, Update{State: UnitState{Name: u, LoadState: st.LoadState, ActiveState: st.ActiveState,
					SubState: st.SubState, Result: st.Result, Since: time.Now()}, Err: err}) {
					return
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return out, nil
}
