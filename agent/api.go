package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kuma-agent/kuma-agent/agent/control"
)

// controlHandlers serve the control socket's operations (the protocol is
// in package control).
func (a *Agent) controlHandlers() map[string]control.Handler {
	keyOp := func(fn func(string) (any, error)) control.Handler {
		return func(_ context.Context, raw json.RawMessage) (any, error) {
			var k control.KeyArgs
			if err := json.Unmarshal(raw, &k); err != nil || k.Key == "" {
				return nil, errors.New("a base64 key is required")
			}
			return fn(k.Key)
		}
	}
	return map[string]control.Handler{
		control.OpMembers: func(context.Context, json.RawMessage) (any, error) {
			_, info := a.clusterMembers()
			return info, nil
		},
		control.OpUnits: func(context.Context, json.RawMessage) (any, error) {
			if a.sup == nil {
				return nil, errors.New("supervision is off on this node (supervisor.enabled: false)")
			}
			if err := a.sup.WatchError(); err != nil {
				return nil, fmt.Errorf("the supervisor cannot watch the units: %w", err)
			}
			return control.UnitsReport{Units: a.sup.Units(), Raft: a.sup.RaftState(), DryRun: a.cfg.Supervisor.DryRun}, nil
		},
		control.OpClusterDoctor: func(ctx context.Context, raw json.RawMessage) (any, error) {
			var args control.ClusterDoctorArgs
			if len(raw) > 0 && string(raw) != "null" {
				if err := json.Unmarshal(raw, &args); err != nil {
					return nil, fmt.Errorf("doctor-cluster arguments: %w", err)
				}
			}
			return a.clusterReport(ctx, args.Fresh)
		},
		control.OpLeave: func(context.Context, json.RawMessage) (any, error) {
			// Leave for good: the others see "left", not "failed", and the
			// snapshot will not rejoin on restart.
			return map[string]string{"node": a.node.Name}, a.mesh.Leave()
		},
		control.OpKeyringList: func(context.Context, json.RawMessage) (any, error) {
			return a.mesh.ListKeys()
		},
		control.OpKeyringInstall: keyOp(func(k string) (any, error) { return a.mesh.InstallKey(k) }),
		control.OpKeyringUse:     keyOp(func(k string) (any, error) { return a.mesh.UseKey(k) }),
		control.OpKeyringRemove:  keyOp(func(k string) (any, error) { return a.mesh.RemoveKey(k) }),
		control.OpRaftExecute:    a.raftExecute,
	}
}
