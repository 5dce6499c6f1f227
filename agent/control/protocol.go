package control

import (
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/raftops"
	"github.com/kuma-agent/kuma-agent/supervisor"
)

// The operations of the control socket and the answers the CLI decodes:
// the protocol lives here, with the socket, so the CLI imports the
// protocol and not the daemon. Names are the wire protocol.
const (
	OpMembers        = "members"
	OpClusterDoctor  = "doctor-cluster" // every node, and the cluster-wide checks
	OpLeave          = "leave"
	OpUnits          = "units" // the supervisor's units
	OpKeyringList    = "keyring-list"
	OpKeyringInstall = "keyring-install"
	OpKeyringUse     = "keyring-use"
	OpKeyringRemove  = "keyring-remove"
	// OpRaftExecute performs a Raft recovery through the agents (`raft
	// remove-node|restore-node|restore-cluster --execute`); it may take
	// minutes.
	OpRaftExecute = "raft-execute"
)

// RaftExecuteArgs are OpRaftExecute's arguments: the procedure, its target
// (the node removed, or the chosen node) and the Cores as the CLI's
// `raft status` saw them (the coordinator sequences the steps from them;
// every target re-checks its own).
type RaftExecuteArgs struct {
	Procedure string         `json:"procedure"`
	Target    string         `json:"target"`
	Cores     []raftops.Core `json:"cores"`
}

// KeyArgs carries a base64 key for the keyring operations.
type KeyArgs struct {
	Key string `json:"key"`
}

// MemberInfo is one row of `kuma-agent members` (OpMembers answers a list).
type MemberInfo struct {
	Name    string   `json:"name"`
	Addr    string   `json:"addr"`
	Status  string   `json:"status"`
	Roles   []string `json:"roles"`
	Health  string   `json:"health"`
	Failing []string `json:"failing,omitempty"`
	Version string   `json:"version,omitempty"`
	// TagsError is set when the member's tags could not be decoded (an
	// agent of another version, or corruption); the member is still listed.
	TagsError string    `json:"tags_error,omitempty"`
	Since     time.Time `json:"since,omitzero"`
	// Ignored says why no decision believes this member (the inventory
	// does not have it, or has it at another address); "" for a member the
	// inventory vouches for, or when there is no inventory.
	Ignored string `json:"ignored,omitempty"`
}

// UnitsReport is the answer to OpUnits.
type UnitsReport struct {
	Units  []supervisor.UnitStatus `json:"units"`
	Raft   string                  `json:"raft,omitempty"` // the local Core's Raft state
	DryRun bool                    `json:"dry_run,omitempty"`
}

// ClusterDoctorArgs are OpClusterDoctor's arguments (none: the latest
// continuous evaluation, or a fresh one when there is none yet).
type ClusterDoctorArgs struct {
	// Fresh gathers and judges now instead of answering the latest
	// continuous evaluation.
	Fresh bool `json:"fresh,omitempty"`
}

// ClusterReport is the answer to OpClusterDoctor, `doctor --cluster`:
// every node's findings and what only the cluster as a whole shows. It is
// the cluster evaluator's latest evaluation (Evaluator, EvaluatedAt,
// AgeSeconds say whose and how old) unless Fresh: gathered on request.
type ClusterReport struct {
	Self       string                      `json:"self"`
	Members    []MemberInfo                `json:"members"`
	Nodes      []clusterchecks.DoctorReply `json:"nodes"`
	Unanswered []string                    `json:"unanswered"`
	Cluster    []clusterchecks.NamedResult `json:"cluster"`
	Status     checks.Status               `json:"status"`
	DurationMS float64                     `json:"duration_ms"`

	Evaluator   string    `json:"evaluator"`      // the node that evaluated it
	EvaluatedAt time.Time `json:"evaluated_at"`   // when
	AgeSeconds  float64   `json:"age_seconds"`    // how long before this answer
	Fresh       bool      `json:"fresh"`          // gathered for this request
	Note        string    `json:"note,omitempty"` // what this answer lacks, and how to get it
}
