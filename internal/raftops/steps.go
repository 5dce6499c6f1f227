package raftops

import (
	"fmt"
	"slices"
)

// The procedures --execute performs.
const (
	ProcRemoveNode     = "remove-node"
	ProcRestoreNode    = "restore-node" // its host-side part: removing the broken Core
	ProcRestoreCluster = "restore-cluster"
)

// The steps, by name: the only things a request can ask for.
const (
	StepStopCore   = "stop-core"   // stop the Core unit
	StepRemoveCore = "remove-core" // backup, stop, disable, remove the working directory and the unit
	StepResetSeed  = "reset-seed"  // backup, raft/.reset, ExecStart without --raft.join, daemon-reload, start
)

// Precondition is what a target re-checks on its own view before a step.
type Precondition int

const (
	// MajorityLost: fewer than a quorum of the inventory's Cores run (its
	// own mesh view), so no working cluster is being destroyed.
	MajorityLost Precondition = iota
	// OthersKeepQuorum: the Cores other than the target that run are a
	// quorum of the Cores that remain without it.
	OthersKeepQuorum
	// WorksWithout: the Cores other than the target that run are a quorum
	// of all the inventory's Cores (restore-node: the broken node stays a
	// member of the inventory and comes back).
	WorksWithout
)

func (p Precondition) String() string {
	switch p {
	case MajorityLost:
		return "the majority of the Cores is lost"
	case OthersKeepQuorum:
		return "the other Cores keep a quorum without this one"
	case WorksWithout:
		return "the cluster works without this Core"
	}
	return fmt.Sprintf("precondition(%d)", int(p))
}

// StepDef is one row of the table.
type StepDef struct {
	Procedure string
	Step      string
	Pre       Precondition
	// Seed: the step runs on the chosen node (true) or on the others
	// (false); Any: on either.
	Seed, Any bool
	// Stopped: the target's Core unit must not be active (a step before
	// stopped it).
	Stopped bool
	// Backup: a backup of the working directory is taken first; the step
	// is refused when it fails.
	Backup bool
	Does   string // what the step does, for the README and the errors
}

// Table is every step a request can name.
var Table = []StepDef{
	{Procedure: ProcRestoreCluster, Step: StepStopCore, Pre: MajorityLost, Any: true,
		Does: "stop the Core unit"},
	{Procedure: ProcRestoreCluster, Step: StepRemoveCore, Pre: MajorityLost, Stopped: true, Backup: true,
		Does: "back up the working directory, stop and disable the Core unit, remove the working directory and the unit, daemon-reload"},
	{Procedure: ProcRestoreCluster, Step: StepResetSeed, Pre: MajorityLost, Seed: true, Stopped: true, Backup: true,
		Does: "back up the working directory, touch raft/.reset, a drop-in with the unit's ExecStart without --raft.join, daemon-reload, start the Core"},
	{Procedure: ProcRemoveNode, Step: StepRemoveCore, Pre: OthersKeepQuorum, Any: true, Backup: true,
		Does: "back up the working directory, stop and disable the Core unit, remove the working directory and the unit, daemon-reload"},
	{Procedure: ProcRestoreNode, Step: StepRemoveCore, Pre: WorksWithout, Any: true, Backup: true,
		Does: "back up the working directory, stop and disable the broken Core's unit, remove the working directory and the unit, daemon-reload"},
}

// Lookup finds the table's row for procedure and step.
func Lookup(procedure, step string) (StepDef, bool) {
	i := slices.IndexFunc(Table, func(d StepDef) bool { return d.Procedure == procedure && d.Step == step })
	if i < 0 {
		return StepDef{}, false
	}
	return Table[i], true
}

// Core is one inventory Core as the coordinator plans with it.
type Core struct {
	Node       string `json:"node"`
	ID         string `json:"id,omitempty"` // its Core service ID; "" when its agent reported no Core unit
	AgentAlive bool   `json:"agent_alive"`
}

// Call is one step on one node.
type Call struct {
	Node   string `json:"node"`
	Step   string `json:"step"`
	CoreID string `json:"core_id"`
}

// Sequence is the steps of procedure for target (remove-node: the node
// removed; restore-cluster: the chosen node), in order, one node at a
// time. It refuses what --execute cannot do: a Core whose agent does not
// answer (its steps would be skipped, leaving it to rejoin a cluster that
// no longer exists), a target without a Core unit.
func Sequence(procedure, target string, cores []Core) ([]Call, error) {
	i := slices.IndexFunc(cores, func(c Core) bool { return c.Node == target })
	if i < 0 {
		return nil, fmt.Errorf("%s is no Core of the inventory", target)
	}
	t := cores[i]
	if !t.AgentAlive || t.ID == "" {
		return nil, fmt.Errorf("%s: its agent must answer and report its Core unit (agent alive %v, Core ID %q)", target, t.AgentAlive, t.ID)
	}
	switch procedure {
	case ProcRemoveNode, ProcRestoreNode:
		return []Call{{Node: t.Node, Step: StepRemoveCore, CoreID: t.ID}}, nil
	case ProcRestoreCluster:
		var stop, remove []Call
		for _, c := range cores {
			if !c.AgentAlive {
				return nil, fmt.Errorf("%s: its agent does not answer; --execute needs every Core's agent (start it, or do that node's steps by hand first and remove it from the inventory)", c.Node)
			}
			if c.ID == "" {
				continue // no Core unit there: nothing to stop or remove
			}
			stop = append(stop, Call{Node: c.Node, Step: StepStopCore, CoreID: c.ID})
			if c.Node != target {
				remove = append(remove, Call{Node: c.Node, Step: StepRemoveCore, CoreID: c.ID})
			}
		}
		out := append(stop, remove...)
		return append(out, Call{Node: t.Node, Step: StepResetSeed, CoreID: t.ID}), nil
	}
	return nil, fmt.Errorf("procedure %q cannot be executed (want %s, %s or %s)", procedure, ProcRemoveNode, ProcRestoreNode, ProcRestoreCluster)
}
