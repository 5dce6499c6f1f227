package agent

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/internal/doctor"
)

// Control operations, the CLI's side of the agent. Names are the wire
// protocol of the control socket.
const (
	OpMembers        = "members"
	OpDoctor         = "doctor"         // this node's latest results
	OpClusterDoctor  = "doctor-cluster" // every node, and the cluster-wide checks
	OpLeave          = "leave"
	OpUnits          = "units" // the supervisor's units
	OpKeyringList    = "keyring-list"
	OpKeyringInstall = "keyring-install"
	OpKeyringUse     = "keyring-use"
	OpKeyringRemove  = "keyring-remove"
)

// KeyArgs carries a base64 key for the keyring operations.
type KeyArgs struct {
	Key string `json:"key"`
}

func (a *Agent) controlHandlers() map[string]control.Handler {
	keyOp := func(fn func(string) (any, error)) control.Handler {
		return func(_ context.Context, raw json.RawMessage) (any, error) {
			var k KeyArgs
			if err := json.Unmarshal(raw, &k); err != nil || k.Key == "" {
				return nil, fmt.Errorf("a base64 key is required")
			}
			return fn(k.Key)
		}
	}
	return map[string]control.Handler{
		OpMembers: func(context.Context, json.RawMessage) (any, error) {
			_, info := a.clusterMembers()
			return info, nil
		},
		OpUnits: func(context.Context, json.RawMessage) (any, error) {
			if a.sup == nil {
				return nil, fmt.Errorf("supervision is off on this node (supervisor.enabled: false)")
			}
			if err := a.sup.WatchError(); err != nil {
				return nil, fmt.Errorf("the supervisor cannot watch the units: %w", err)
			}
			return UnitsReport{Units: a.sup.Units(), Raft: a.sup.RaftState(), DryRun: a.cfg.Supervisor.DryRun}, nil
		},
		OpDoctor: func(context.Context, json.RawMessage) (any, error) {
			return a.localReport(), nil
		},
		OpClusterDoctor: func(ctx context.Context, _ json.RawMessage) (any, error) {
			return a.clusterDoctor(ctx)
		},
		OpLeave: func(context.Context, json.RawMessage) (any, error) {
			// Leave for good: the others see "left", not "failed", and the
			// snapshot will not rejoin on restart.
			return map[string]string{"node": a.node.Name}, a.mesh.Leave()
		},
		OpKeyringList: func(context.Context, json.RawMessage) (any, error) {
			return a.mesh.ListKeys()
		},
		OpKeyringInstall: keyOp(func(k string) (any, error) { return a.mesh.InstallKey(k) }),
		OpKeyringUse:     keyOp(func(k string) (any, error) { return a.mesh.UseKey(k) }),
		OpKeyringRemove:  keyOp(func(k string) (any, error) { return a.mesh.RemoveKey(k) }),
	}
}

// localReport is doctor's report built from the daemon's latest results
// (with flap thresholds applied), not a fresh run.
func (a *Agent) localReport() doctor.Report {
	return doctor.FromOutcomes(a.plan, a.sched.Latest())
}
