package supervisor

import (
	"time"

	"github.com/kuma-agent/kuma-agent/internal/kumaunit"
)

// UnitState is what systemd says about one unit.
type UnitState struct {
	Name          string
	LoadState     string // loaded, not-found, masked, ...
	ActiveState   string // active, reloading, inactive, failed, activating, deactivating
	SubState      string // running, dead, failed, auto-restart, ...
	Result        string // services: success, exit-code, signal, watchdog, start-limit-hit, ...
	UnitFileState string // enabled, disabled, static, ...
	// NRestarts counts systemd's automatic restarts since the last manual
	// start: a failed unit with some has exhausted its Restart= policy.
	NRestarts uint32
	// Since is when the unit last changed ActiveState (systemd's
	// StateChangeTimestamp); zero when unknown.
	Since time.Time
	// Exec is the unit's ExecStart parsed as a KUMA command line (KUMA
	// units only, systemd backend only); nil when not read. ExecErr says
	// why it could not be read: the unit's state is still known.
	Exec    *kumaunit.Exec
	ExecErr string
}

// Condition is the supervisor's reading of a UnitState.
type Condition int

const (
	// Unknown: D-Bus error, reconnect, or no answer. Never acted upon.
	Unknown Condition = iota
	// Missing: the unit is not installed on this host.
	Missing
	// Running: active or reloading.
	Running
	// Transitioning: starting, stopping, or waiting in Restart='s
	// auto-restart: systemd's own policy is at work.
	Transitioning
	// Stopped: inactive, as after an operator's `systemctl stop`.
	Stopped
	// Failed: failed after a crash with no (more) automatic restart.
	Failed
	// StartLimit: failed because Restart= hit StartLimitBurst.
	StartLimit
)

var conditionNames = [...]string{"unknown", "missing", "running", "transitioning", "stopped", "failed", "start-limit"}

func (c Condition) String() string {
	if int(c) < len(conditionNames) {
		return conditionNames[c]
	}
	return "condition(?)"
}

// NeedsHealing reports whether the supervisor may act on the condition.
func (c Condition) NeedsHealing() bool { return c == Failed || c == StartLimit }

// activeConditions maps ActiveState to a condition: data, not branches.
var activeConditions = map[string]Condition{
	"active":       Running,
	"reloading":    Running,
	"activating":   Transitioning,
	"deactivating": Transitioning,
	"inactive":     Stopped,
	"failed":       Failed,
}

// Classify reads a unit state. Anything unrecognised is Unknown, so a
// systemd we do not understand never triggers an action.
func Classify(s UnitState) Condition {
	switch s.LoadState {
	case "not-found", "masked":
		return Missing
	case "loaded":
	default:
		return Unknown
	}
	c, ok := activeConditions[s.ActiveState]
	if !ok {
		return Unknown
	}
	// systemd 252 keeps the failure's Result (exit-code, ...) when the
	// start limit stops Restart=; NRestarts > 0 is what tells.
	if c == Failed && (s.Result == "start-limit-hit" || s.NRestarts > 0) {
		return StartLimit
	}
	return c
}
