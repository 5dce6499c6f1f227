package raftops

import (
	"context"
	"fmt"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// StepResult is one step as the coordinator saw it.
type StepResult struct {
	Node   string `json:"node"`
	Step   string `json:"step"`
	Status string `json:"status"` // done, failed, not run
	Detail string `json:"detail,omitempty"`
}

// The statuses of a step.
const (
	StatusDone   = "done"
	StatusFailed = "failed"
	StatusNotRun = "not run"
)

// Report is an executed operation.
type Report struct {
	Operation string       `json:"operation"`
	Procedure string       `json:"procedure"`
	Target    string       `json:"target"`
	OK        bool         `json:"ok"`
	Steps     []StepResult `json:"steps"`
}

// Coordinator runs an operation's steps one node at a time.
type Coordinator struct {
	// Send asks node's agent for req and waits for its answer.
	Send func(ctx context.Context, node string, req Request) (Reply, error)
	// Emit records each step (raft.step_started, _done, _failed).
	Emit func(events.Type, events.RaftStepData)
	// Lost is closed or sent on when the operation's lease is lost: no
	// step starts after that. May be nil.
	Lost <-chan error
}

// Run performs calls in order and stops at the first failure; the steps
// after it are reported as not run.
func (c Coordinator) Run(ctx context.Context, operation, procedure, target string, calls []Call) Report {
	rep := Report{Operation: operation, Procedure: procedure, Target: target, OK: true}
	seed := ""
	if procedure == ProcRestoreCluster {
		seed = target
	}
	for _, call := range calls {
		res := StepResult{Node: call.Node, Step: call.Step, Status: StatusNotRun}
		if !rep.OK {
			rep.Steps = append(rep.Steps, res)
			continue
		}
		data := events.RaftStepData{Operation: operation, Procedure: procedure, Node: call.Node, Step: call.Step}
		if err := c.lost(ctx); err != nil {
			res.Status, res.Detail = StatusFailed, err.Error()
		} else {
			c.emit(events.RaftStepStarted, data)
			ans, err := c.Send(ctx, call.Node, Request{Operation: operation, Procedure: procedure, Step: call.Step, Node: call.Node,
				CoreID: call.CoreID, Seed: seed})
			switch {
			case err != nil:
				res.Status, res.Detail = StatusFailed, fmt.Sprintf("no answer from %s's agent: %v", call.Node, err)
			case !ans.OK:
				res.Status, res.Detail = StatusFailed, ans.Reason
			case ans.Operation != operation || ans.Step != call.Step:
				res.Status, res.Detail = StatusFailed, fmt.Sprintf("answer for operation %q step %q, want %q %q", ans.Operation, ans.Step, operation, call.Step)
			default:
				res.Status, res.Detail = StatusDone, ans.Result
			}
		}
		if res.Status == StatusDone {
			data.Result = res.Detail
			c.emit(events.RaftStepDone, data)
		} else {
			rep.OK = false
			data.Reason = res.Detail
			c.emit(events.RaftStepFailed, data)
		}
		rep.Steps = append(rep.Steps, res)
	}
	return rep
}

func (c Coordinator) lost(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("stopped: %w", err)
	}
	if c.Lost == nil {
		return nil
	}
	select {
	case err, ok := <-c.Lost:
		if !ok || err == nil {
			err = fmt.Errorf("ended")
		}
		return fmt.Errorf("the raft-ops lease was lost: %w", err)
	default:
		return nil
	}
}

func (c Coordinator) emit(t events.Type, d events.RaftStepData) {
	if c.Emit != nil {
		c.Emit(t, d)
	}
}
