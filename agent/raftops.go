package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/internal/corebackup"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/kumaunit"
	"github.com/kuma-agent/kuma-agent/internal/raftops"
)

// The Raft recoveries through the agents (internal/raftops): every agent
// with supervision on systemd answers ops requests addressed to it on its
// events' NATS connection; the agent the CLI asks (OpRaftExecute)
// coordinates under the raft-ops lease.

// raftOpsPurpose is the cluster lease of an executed recovery: one at a
// time in the cluster.
const raftOpsPurpose = "raft-ops"

// raftStepTimeout bounds one step on one node (a backup, a stop, a start);
// raftExecuteTimeout the whole operation as the control socket allows it.
const (
	raftStepTimeout    = 5 * time.Minute
	raftExecuteTimeout = 30 * time.Minute
	// raftPreconditionSettle: how long a node judges a step's precondition
	// again before refusing it; its gossip view of the other Cores (tags
	// sent when a unit changes) lags the fresh answers the CLI planned
	// from by up to a few seconds, more on a busy machine.
	raftPreconditionSettle = 10 * time.Second
)

// raftOps holds the connection the ops requests ride on.
type raftOps struct {
	a      *Agent
	mu     sync.Mutex
	nc     *nats.Conn
	cancel context.CancelFunc
}

// setConn serves ops requests on nc (nil: the connection ended).
func (o *raftOps) setConn(nc *nats.Conn) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cancel != nil {
		o.cancel()
		o.cancel = nil
	}
	o.nc = nc
	if nc == nil {
		return
	}
	t := o.a.raftTarget()
	ctx, cancel := context.WithCancel(context.Background())
	o.cancel = cancel
	err := raftops.Serve(ctx, nc, o.a.cfg.Events.Cluster, o.a.node.Name, func(ctx context.Context, from string, data []byte) raftops.Reply {
		if t == nil { // answered at once: the coordinator must not wait for a node that cannot act
			rep := raftops.Reply{Reason: o.a.node.Name + " cannot perform Raft recovery steps: it needs the inventory and supervision on systemd (supervisor.enabled, backend systemd)"}
			if r, err := raftops.DecodeRequest(data); err == nil {
				rep.Operation, rep.Step = r.Operation, r.Step
			}
			return rep
		}
		ctx, cancel := context.WithTimeout(ctx, raftStepTimeout)
		defer cancel()
		rep := t.Handle(ctx, from, data)
		o.a.log.Info("raft ops request", "from", from, "operation", rep.Operation, "step", rep.Step, "ok", rep.OK, "result", rep.Result, "reason", rep.Reason)
		return rep
	})
	if err != nil {
		o.a.log.Error("raft ops requests not served", "err", err)
	}
}

func (o *raftOps) conn() (*nats.Conn, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.nc == nil {
		return nil, errors.New("NATS is not connected: the other agents cannot be asked")
	}
	return o.nc, nil
}

// raftTarget is this node's side of the recoveries; nil when it cannot
// take part (no inventory, supervision off or not on systemd).
func (a *Agent) raftTarget() *raftops.Target {
	if a.cluster == nil || a.sup == nil || a.systemd == nil {
		return nil
	}
	var cores []string
	for _, h := range a.cluster.RaftMembers() {
		cores = append(cores, h.Name)
	}
	return &raftops.Target{Node: a.node.Name, Nodes: a.inventoryNames(), Cores: cores,
		Local: a.localCore,
		Running: func() []string {
			var out []string
			for _, p := range a.peers() {
				if p.Alive && p.Healthy && slices.Contains(cores, p.Name) {
					out = append(out, p.Name)
				}
			}
			return out
		},
		Units: a.systemd,
		Backup: func(ctx context.Context, id string) (string, error) {
			b, err := a.backupCore(ctx, id)
			return b.Path, err
		},
		Keep: func(id, path string) (string, error) {
			return corebackup.KeepFile(corebackup.FromConfig(a.cfg), id, path)
		},
		CoreDir: a.cfg.Supervisor.CoreDir, UnitDir: a.cfg.Supervisor.UnitDir,
		Settle: raftPreconditionSettle}
}

// localCore is this node's Core unit, read from systemd now (the
// supervisor's picture may lag a stop by a signal).
func (a *Agent) localCore(ctx context.Context) (raftops.LocalCore, bool, error) {
	for _, u := range a.sup.Units() {
		kind, id, ok := kumaunit.ParseName(u.Unit)
		if !ok || kind != kumaunit.KindCore {
			continue
		}
		st, err := a.systemd.State(ctx, u.Unit)
		if err != nil {
			return raftops.LocalCore{}, false, err
		}
		if st.LoadState != "loaded" {
			return raftops.LocalCore{}, false, nil
		}
		// Anything but inactive or failed still runs (or is about to).
		return raftops.LocalCore{Unit: u.Unit, ID: id, Active: st.ActiveState != "inactive" && st.ActiveState != "failed",
			Exec: st.Exec}, true, nil
	}
	return raftops.LocalCore{}, false, nil
}

// raftExecute coordinates an executed recovery: the steps one node at a
// time, each asked of its node's agent, under the raft-ops lease.
func (a *Agent) raftExecute(ctx context.Context, raw json.RawMessage) (any, error) {
	var args control.RaftExecuteArgs
	if err := json.Unmarshal(raw, &args); err != nil {
		return nil, fmt.Errorf("raft-execute arguments: %w", err)
	}
	calls, err := raftops.Sequence(args.Procedure, args.Target, args.Cores)
	if err != nil {
		return nil, err
	}
	nc, err := a.ops.conn()
	if err != nil {
		return nil, err
	}
	if a.locker == nil {
		return nil, errors.New("no cluster lease without events (events.enabled: false)")
	}
	lock, err := a.locker.Acquire(ctx, raftOpsPurpose)
	if err != nil {
		return nil, fmt.Errorf("the %s lease (one recovery at a time in the cluster): %w", raftOpsPurpose, err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := lock.Release(rctx); err != nil {
			a.log.Warn("raft-ops lease release", "err", err)
		}
	}()
	op := operationID()
	a.log.Info("raft recovery executing", "operation", op, "procedure", args.Procedure, "target", args.Target, "steps", len(calls))
	c := raftops.Coordinator{
		Send: func(ctx context.Context, node string, req raftops.Request) (raftops.Reply, error) {
			ctx, cancel := context.WithTimeout(ctx, raftStepTimeout+30*time.Second)
			defer cancel()
			return raftops.Ask(ctx, nc, a.cfg.Events.Cluster, a.node.Name, node, req)
		},
		Emit: func(t events.Type, d events.RaftStepData) {
			sev := events.SeverityInfo
			if t == events.RaftStepFailed {
				sev = events.SeverityCritical
			}
			a.emit(t, d.Node, sev, d)
		},
		Lost: lock.Lost(),
	}
	rep := c.Run(ctx, op, args.Procedure, args.Target, calls)
	a.log.Info("raft recovery ended", "operation", op, "ok", rep.OK)
	return rep, nil
}

// operationID names one executed recovery (events, logs, the drop-in).
func operationID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
}
