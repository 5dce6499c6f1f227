package supervisor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/kumaunit"
	"github.com/kuma-agent/kuma-agent/internal/retry"
)

// RejoinOptions configure the Raft rejoin loop.
type RejoinOptions struct {
	Interval time.Duration
	Readings int // consecutive "out" readings before acting
	Signals  []Signal
	// JoinCommand is a template with {{.Leader}}, {{.ID}} and {{.Unit}}.
	JoinCommand []string
	RaftPort    int
	Runner      Runner
	// RaftAddr maps a Raft voter of the inventory to the host:port its
	// Core's Raft listens on, from the inventory (its raft_node_addr, or
	// its FQDN and RaftPort): the rejoin target. nil: the voter's inventory
	// name and RaftPort. Never anything a member says about itself.
	RaftAddr func(node string) string
	// Act lets the loop rejoin (supervisor.rejoin.enabled); without it
	// the loop only reads and reports. DryRun proposes each rejoin.
	Act    bool
	DryRun bool
	// Backup archives the Core's working directory before the join
	// command runs and says where; an error (or no Backup) is no rejoin.
	Backup func(ctx context.Context, id string) (string, error)
	// HungReadings: this many readings in a row in which the Core unit is
	// active and the health listener does not answer within its timeout
	// make the Core "hung" (0: never).
	HungReadings int
	// RestartHung restarts a hung Core (opt-in), under the lease and the
	// guard, never twice without it answering in between.
	RestartHung bool
}

// rejoinState is the loop's memory, read by RaftState.
type rejoinState struct {
	mu    sync.Mutex
	state string // leader, follower, out, "" (unknown)
	outs  int
	// silent counts readings in a row without an answer while the unit
	// runs; hung is set at HungReadings.
	silent int
	hung   string // the hung Core's unit, "" when none
	// failedUnit is the Core whose last rejoin failed: no second one
	// before it is seen in the cluster again.
	failedUnit string
	// proposedUnit: a dry-run proposal was made for this Core's current
	// fall; not repeated every interval.
	proposedUnit string
	// restarted is the hung Core restarted (or proposed, or refused for
	// good) since it last answered: no second restart before it does.
	restarted string
}

// HungCore is the Core unit reported hung (active, its health listener
// silent for HungReadings readings), "" when none.
func (s *Supervisor) HungCore() string {
	s.rejoin.mu.Lock()
	defer s.rejoin.mu.Unlock()
	return s.rejoin.hung
}

// noteSilence counts readings without an answer from a running Core and
// reports a change of the hung verdict.
func (s *Supervisor) noteSilence(unit string, silent bool, limit int) {
	s.rejoin.mu.Lock()
	if silent {
		s.rejoin.silent++
	} else {
		s.rejoin.silent = 0
	}
	hung := ""
	if limit > 0 && s.rejoin.silent >= limit {
		hung = unit
	}
	changed := hung != s.rejoin.hung
	s.rejoin.hung = hung
	n := s.rejoin.silent
	s.rejoin.mu.Unlock()
	if !changed {
		return
	}
	if hung != "" {
		s.log.Error("Core hung: the unit is active but its health listener did not answer", "unit", unit, "readings", n)
	} else {
		s.log.Info("Core answers its health listener again", "unit", unit)
	}
	s.o.OnChange()
}

// RaftState is the local Core's Raft state as last read: leader,
// follower, out, or "" when unknown or no Raft Core runs here.
func (s *Supervisor) RaftState() string {
	s.rejoin.mu.Lock()
	defer s.rejoin.mu.Unlock()
	return s.rejoin.state
}

// coreID is the service ID in kuma-core-<ID>.service; "" for the old
// single kuma-core.service, which has no Raft.
func coreID(unit string) string {
	id, ok := strings.CutPrefix(strings.TrimSuffix(unit, ".service"), "kuma-core-")
	if !ok {
		return ""
	}
	return id
}

// read combines the signals: out if any says out; unknown (error) only
// when none could be read.
func read(ctx context.Context, sigs []Signal) (Reading, error) {
	var r Reading
	var errs []error
	read := 0
	for _, sg := range sigs {
		x, err := sg.Read(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		read++
		r.Leader = r.Leader || x.Leader
		if x.Out {
			r.Out = true
			r.Detail = strings.TrimPrefix(r.Detail+"; "+x.Detail, "; ")
		}
	}
	if read == 0 {
		return Reading{}, fmt.Errorf("no Raft state signal readable: %w", errors.Join(errs...))
	}
	return r, nil
}

// RunRejoin reads the Raft state of the Core on this node (gossiped), finds
// a hung Core, and with o.Act rejoins a Core that runs but is out of the
// cluster, under the lease and the guard, never twice without the Core
// seen in the cluster in between. It returns when ctx is done.
func (s *Supervisor) RunRejoin(ctx context.Context, o RejoinOptions) {
	if o.Interval <= 0 || len(o.Signals) == 0 {
		return
	}
	if o.Runner == nil {
		o.Runner = defaultRunner()
	}
	if o.RaftAddr == nil {
		o.RaftAddr = func(n string) string { return net.JoinHostPort(n, strconv.Itoa(o.RaftPort)) }
	}
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		unit, ok := s.runningRaftCore()
		if !ok {
			s.setRaft("", 0)
			s.noteSilence("", false, o.HungReadings)
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, o.Interval)
		r, err := read(rctx, o.Signals)
		cancel()
		s.noteSilence(unit, err != nil && errors.Is(err, ErrNoAnswer), o.HungReadings)
		if o.RestartHung {
			s.restartIfHung(ctx, unit, o)
		}
		if err != nil {
			s.log.Debug("Raft state unknown", "err", err)
			s.setRaft("", 0) // unknown is never "out", and not the last good reading either
			continue
		}
		if !r.Out {
			state := "follower"
			if r.Leader {
				state = "leader"
			}
			s.setRaft(state, 0)
			s.rejoin.mu.Lock()
			s.rejoin.failedUnit, s.rejoin.proposedUnit = "", ""
			s.rejoin.mu.Unlock()
			continue
		}
		outs := s.setRaft("out", 1)
		if outs < o.Readings || !o.Act {
			continue
		}
		s.rejoin.mu.Lock()
		failedBefore, proposedBefore := s.rejoin.failedUnit == unit, s.rejoin.proposedUnit == unit
		s.rejoin.mu.Unlock()
		if proposedBefore {
			continue
		}
		if failedBefore {
			s.refuseOnce(unit, "rejoin", "the last rejoin of this Core failed: no second one before it is seen in the cluster again; see `kuma-agent raft status` and the Core's log")
			continue
		}
		// Nothing to rejoin without a leader: refused here, before the
		// guard and the lease (a lease taken and given back every interval
		// while the cluster has no leader helps nobody).
		if _, err := s.leader(o); err != nil {
			s.refuseOnce(unit, "rejoin", err.Error())
			continue
		}
		j := s.rejoinJob(unit, r, o)
		j.dryRun = o.DryRun
		out := s.coordinate(ctx, j)
		switch out.kind {
		case refused:
			s.refuseOnce(unit, "rejoin", out.reason)
		case proposed:
			s.rejoin.mu.Lock()
			s.rejoin.proposedUnit = unit
			s.rejoin.mu.Unlock()
		case failed:
			s.rejoin.mu.Lock()
			s.rejoin.failedUnit = unit
			s.rejoin.mu.Unlock()
		case done:
			s.setRaft("", -1)
			for _, sg := range o.Signals {
				if l, ok := sg.(*LogSignal); ok {
					l.Reset()
				}
			}
		}
	}
}

func (s *Supervisor) setRaft(state string, addOuts int) int {
	s.rejoin.mu.Lock()
	changed := s.rejoin.state != state
	s.rejoin.state = state
	switch {
	case addOuts > 0:
		s.rejoin.outs += addOuts
	default:
		s.rejoin.outs = 0
	}
	n := s.rejoin.outs
	s.rejoin.mu.Unlock()
	if changed {
		s.o.OnChange()
	}
	return n
}

// runningRaftCore finds the Raft Core unit running on this node.
func (s *Supervisor) runningRaftCore() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range slices.Sorted(maps.Keys(s.units)) {
		t := s.units[name]
		if t.group == GroupRaft && t.cond == Running && coreID(name) != "" {
			return name, true
		}
	}
	return "", false
}

// restartIfHung restarts the hung Core unit once per silence, under the
// lease and the guard (a hung Core is not serving: TargetDown).
func (s *Supervisor) restartIfHung(ctx context.Context, unit string, o RejoinOptions) {
	s.rejoin.mu.Lock()
	hung, done := s.rejoin.hung, s.rejoin.restarted
	if hung == "" {
		s.rejoin.restarted = ""
	}
	s.rejoin.mu.Unlock()
	if hung != unit || done == unit {
		return
	}
	a := Action{Node: s.o.Node, Unit: unit, Verb: "restart-hung", Group: GroupRaft, TargetDown: true}
	j := job{action: a, dryRun: o.DryRun,
		reason: fmt.Sprintf("active, but its health listener did not answer for %d readings", o.HungReadings),
		confirm: func(ctx context.Context) (bool, error) {
			st, err := s.o.Backend.State(ctx, unit)
			if err != nil {
				return false, err
			}
			if Classify(st) != Running {
				return false, nil // no longer running: the restart policy's business
			}
			_, err = read(ctx, o.Signals)
			return err != nil && errors.Is(err, ErrNoAnswer), nil
		},
		do: func(ctx context.Context) (string, error) {
			if err := s.o.Backend.Restart(ctx, unit); err != nil {
				return "", fmt.Errorf("restart %s: %w", unit, err)
			}
			return "restarted", nil
		},
	}
	out := s.coordinate(ctx, j)
	switch out.kind {
	case refused:
		s.refuseOnce(unit, "restart-hung", out.reason)
		return // retried at the next reading
	case noop:
		return
	}
	s.rejoin.mu.Lock()
	s.rejoin.restarted = unit
	s.rejoin.mu.Unlock()
}

// RaftCoreExec is the command line of the Raft Core unit on this node (the
// first by name), nil when none is loaded or its ExecStart was not read.
func (s *Supervisor) RaftCoreExec() *kumaunit.Exec {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range slices.Sorted(maps.Keys(s.units)) {
		t := s.units[name]
		if t.group == GroupRaft && coreID(name) != "" && t.state.Exec != nil {
			return t.state.Exec
		}
	}
	return nil
}

// leader is the rejoin target: the inventory's Raft address of the one
// live Raft voter of the inventory that gossips it leads. Peers are the
// members the inventory vouches for (see Options.Peers); a member that is
// no Raft voter of the inventory is not asked, whatever it claims. Two
// voters claiming to lead (an old leader cut off in a minority) is no
// answer either: the next reading decides.
func (s *Supervisor) leader(o RejoinOptions) (string, error) {
	voters := s.o.Guard.Groups[GroupRaft]
	var leaders []string
	for _, p := range s.peers() {
		if p.Alive && p.Raft == "leader" && p.Name != s.o.Node && slices.Contains(voters, p.Name) && !slices.Contains(leaders, p.Name) {
			leaders = append(leaders, p.Name)
		}
	}
	switch len(leaders) {
	case 0:
		return "", errors.New("no Raft leader is gossiped by a live Raft voter of the inventory: nothing to rejoin yet")
	case 1:
		return o.RaftAddr(leaders[0]), nil
	}
	slices.Sort(leaders)
	return "", fmt.Errorf("more than one Raft voter claims to lead (%s): waiting for one leader", strings.Join(leaders, ", "))
}

func (s *Supervisor) rejoinJob(unit string, r Reading, o RejoinOptions) job {
	a := Action{Node: s.o.Node, Unit: unit, Verb: "rejoin", Group: GroupRaft, TargetDown: true}
	var leader string // found again under the lease by confirm, used by do
	return job{
		action: a,
		reason: r.Detail,
		confirm: func(ctx context.Context) (bool, error) {
			l, err := s.leader(o)
			if err != nil {
				return false, err
			}
			leader = l
			again, err := read(ctx, o.Signals)
			if err != nil {
				return false, err
			}
			return again.Out, nil
		},
		do: func(ctx context.Context) (string, error) {
			if o.Backup == nil {
				return "", errors.New("no backup of the Core's working directory can be taken here: no rejoin")
			}
			where, err := o.Backup(ctx, coreID(unit))
			if err != nil {
				return "", fmt.Errorf("backup before the rejoin failed, nothing was run: %w", err)
			}
			s.log.Info("Core backed up before the rejoin", "unit", unit, "archive", where)
			argv, err := expand(o.JoinCommand, map[string]string{"Leader": leader, "ID": coreID(unit), "Unit": unit})
			if err != nil {
				return "", fmt.Errorf("join command: %w", err)
			}
			if out, err := o.Runner.Run(ctx, argv); err != nil {
				return "", fmt.Errorf("rejoin via %s: %w (%.300s)", leader, err, out)
			}
			ctx, cancel := context.WithTimeout(ctx, s.o.HealTimeout)
			defer cancel()
			for {
				// The log signal's line stays matched until reset: judge by
				// the others when there are any.
				r, err := read(ctx, withoutLog(o.Signals))
				if err == nil && !r.Out {
					return "joined " + leader + " (backup " + where + ")", nil
				}
				if !retry.Sleep(ctx, healPoll) {
					return "", fmt.Errorf("still out of the cluster %s after the rejoin via %s", s.o.HealTimeout, leader)
				}
			}
		},
	}
}

func withoutLog(sigs []Signal) []Signal {
	var out []Signal
	for _, sg := range sigs {
		if _, ok := sg.(*LogSignal); !ok {
			out = append(out, sg)
		}
	}
	if len(out) == 0 {
		return sigs
	}
	return out
}

// refuseOnce emits a refusal unless the same reason was the last emitted.
func (s *Supervisor) refuseOnce(unit, verb, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuseLocked(unit, s.units[unit], verb, reason)
}

// refuseLocked is refuseOnce with s.mu held; t may be nil (an action on no
// watched unit, such as a dead member's removal).
func (s *Supervisor) refuseLocked(unit string, t *track, verb, reason string) {
	group := NoGroup
	if t != nil {
		if t.refusal == reason {
			return
		}
		t.refusal, group = reason, t.group
	}
	s.log.Warn("action refused", "unit", unit, "action", verb, "reason", reason)
	s.emit(events.HealingRefused, unit, events.SeverityWarning, healingData(unit, verb, reason, group))
}
