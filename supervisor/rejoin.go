package supervisor

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
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
	// Address maps a node name to the address its Core's Raft listens on
	// (the inventory's FQDN); default: the name itself.
	Address func(node string) string
}

// rejoinState is the loop's memory, read by RaftState.
type rejoinState struct {
	mu    sync.Mutex
	state string // leader, follower, out, "" (unknown)
	outs  int
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
	var errs []string
	read := 0
	for _, sg := range sigs {
		x, err := sg.Read(ctx)
		if err != nil {
			errs = append(errs, err.Error())
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
		return Reading{}, fmt.Errorf("no rejoin signal readable: %s", strings.Join(errs, "; "))
	}
	return r, nil
}

// RunRejoin watches the Raft Core on this node and rejoins it when it runs
// but is out of the cluster, under the lease and the guard. It returns
// when ctx is done.
func (s *Supervisor) RunRejoin(ctx context.Context, o RejoinOptions) {
	if o.Interval <= 0 || len(o.Signals) == 0 {
		return
	}
	if o.Runner == nil {
		o.Runner = defaultRunner()
	}
	if o.Address == nil {
		o.Address = func(n string) string { return n }
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
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, o.Interval)
		r, err := read(rctx, o.Signals)
		cancel()
		if err != nil {
			s.log.Debug("rejoin: cannot tell", "err", err)
			continue // unknown: keep the last state, do nothing
		}
		if !r.Out {
			state := "follower"
			if r.Leader {
				state = "leader"
			}
			s.setRaft(state, 0)
			continue
		}
		outs := s.setRaft("out", 1)
		if outs < o.Readings {
			continue
		}
		leader, ok := s.leader(o)
		j := s.rejoinJob(unit, r, leader, ok, o)
		out := s.coordinate(ctx, j)
		switch out.kind {
		case refused:
			s.refuseOnce(unit, "rejoin", out.reason)
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

// leader is the Raft leader's address from the mesh (peers gossip their
// Core's Raft state).
func (s *Supervisor) leader(o RejoinOptions) (string, bool) {
	for _, p := range s.peers() {
		if p.Alive && p.Raft == "leader" && p.Name != s.o.Node {
			return fmt.Sprintf("%s:%d", o.Address(p.Name), o.RaftPort), true
		}
	}
	return "", false
}

func (s *Supervisor) rejoinJob(unit string, r Reading, leader string, haveLeader bool, o RejoinOptions) job {
	a := Action{Node: s.o.Node, Unit: unit, Verb: "rejoin", Group: GroupRaft, TargetDown: true}
	return job{
		action: a,
		reason: r.Detail,
		confirm: func(ctx context.Context) (bool, error) {
			if !haveLeader {
				return false, fmt.Errorf("no Raft leader is gossiped by any live member")
			}
			again, err := read(ctx, o.Signals)
			if err != nil {
				return false, err
			}
			return again.Out, nil
		},
		do: func(ctx context.Context) (string, error) {
			argv, err := expand(o.JoinCommand, struct{ Leader, ID, Unit string }{leader, coreID(unit), unit})
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
					return "joined " + leader, nil
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
