// Package events holds kuma-agent's event model: CloudEvents 1.0 in JSON,
// the event types, and the NATS subject hierarchy subscribers filter on.
//
// Subjects are kuma.<cluster>.<node>.<type> with dots in names replaced, e.g.
//
//	kuma.prod.kuma-core-1_example_com.check.status_changed
//
// so `kuma.prod.>` is everything of one cluster, `kuma.*.*.member.failed`
// every failure, `kuma.prod.kuma-core-1_example_com.>` one node.
package events

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Type is an event type; its dotted form is the tail of the subject.
type Type string

// The event types. Data payloads are documented beside each.
const (
	CheckStatusChanged Type = "check.status_changed" // CheckData
	// ClusterStatusChanged is a cluster-wide check's change, raised and
	// cleared by the one evaluator (ClusterCheckData).
	ClusterStatusChanged Type = "cluster.status_changed"
	MemberJoined         Type = "member.joined"      // MemberData
	MemberFailed         Type = "member.failed"      // MemberData
	MemberLeft           Type = "member.left"        // MemberData
	MemberReaped         Type = "member.reaped"      // MemberData
	MemberUpdated        Type = "member.updated"     // MemberData
	UnitStateChanged     Type = "unit.state_changed" // UnitData
	HealingProposed      Type = "healing.proposed"   // HealingData
	HealingStarted       Type = "healing.started"    // HealingData
	HealingFinished      Type = "healing.finished"   // HealingData
	HealingRefused       Type = "healing.refused"    // HealingData
	LeaseAcquired        Type = "lease.acquired"     // LeaseData
	LeaseRenewed         Type = "lease.renewed"      // LeaseData
	LeaseReleased        Type = "lease.released"     // LeaseData
	LeaseTakenOver       Type = "lease.taken_over"   // LeaseData
	AgentStarted         Type = "agent.started"      // AgentData
	AgentStopping        Type = "agent.stopping"     // AgentData
	EventsDropped        Type = "events.dropped"     // DroppedData
	// The steps of `kuma-agent raft ... --execute`, emitted by the agent
	// coordinating the operation (RaftStepData).
	RaftStepStarted Type = "raft.step_started"
	RaftStepDone    Type = "raft.step_done"
	RaftStepFailed  Type = "raft.step_failed"
)

// Types lists every type, for documentation and validation.
var Types = []Type{CheckStatusChanged, ClusterStatusChanged, MemberJoined, MemberFailed, MemberLeft, MemberReaped, MemberUpdated,
	UnitStateChanged, HealingProposed, HealingStarted, HealingFinished, HealingRefused,
	LeaseAcquired, LeaseRenewed, LeaseReleased, LeaseTakenOver, AgentStarted, AgentStopping, EventsDropped,
	RaftStepStarted, RaftStepDone, RaftStepFailed}

// TypePrefix makes the CloudEvents type reverse-DNS style.
const TypePrefix = "com.kuma-agent."

// Severity lets subscribers filter without knowing every type.
type Severity string

const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Event is a CloudEvents 1.0 event (structured JSON mode). Severity is a
// CloudEvents extension attribute.
type Event struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"` // "kuma-agent/<cluster>/<node>"
	Type            string          `json:"type"`   // TypePrefix + Type
	Time            time.Time       `json:"time"`
	Subject         string          `json:"subject,omitempty"` // what it is about: a check, member, unit, lease
	DataContentType string          `json:"datacontenttype,omitempty"`
	Severity        Severity        `json:"severity,omitempty"`
	Data            json.RawMessage `json:"data,omitempty"`
}

// New builds an event from node of cluster about subject, with data
// marshalled to JSON. The id is random and unique: JetStream deduplicates
// re-sends of the same event by it.
func New(cluster, node string, t Type, subject string, sev Severity, data any, now time.Time) (Event, error) {
	var raw json.RawMessage
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return Event{}, fmt.Errorf("event %s: data: %w", t, err)
		}
		raw = b
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Event{}, err
	}
	return Event{
		SpecVersion: "1.0", ID: hex.EncodeToString(id[:]), Source: "kuma-agent/" + cluster + "/" + node,
		Type: TypePrefix + string(t), Time: now.UTC(), Subject: subject, DataContentType: "application/json",
		Severity: sev, Data: raw,
	}, nil
}

// ShortType is the type without TypePrefix.
func (e Event) ShortType() Type { return Type(strings.TrimPrefix(e.Type, TypePrefix)) }

// Node is the node part of Source.
func (e Event) Node() string {
	parts := strings.SplitN(e.Source, "/", 3)
	if len(parts) == 3 {
		return parts[2]
	}
	return ""
}

// Validate checks the attributes CloudEvents requires and ours.
func (e Event) Validate() error {
	var errs []error
	if e.SpecVersion != "1.0" {
		errs = append(errs, fmt.Errorf("specversion %q, want 1.0", e.SpecVersion))
	}
	if e.ID == "" {
		errs = append(errs, errors.New("id is empty"))
	}
	if !strings.HasPrefix(e.Source, "kuma-agent/") || e.Node() == "" {
		errs = append(errs, fmt.Errorf("source %q is not kuma-agent/<cluster>/<node>", e.Source))
	}
	if !strings.HasPrefix(e.Type, TypePrefix) || e.ShortType() == "" {
		errs = append(errs, fmt.Errorf("type %q lacks the %s prefix", e.Type, TypePrefix))
	}
	if e.Time.IsZero() {
		errs = append(errs, errors.New("time is missing"))
	}
	return errors.Join(errs...)
}

// Subject is the NATS subject of an event: kuma.<cluster>.<node>.<type>.
func Subject(cluster, node string, t Type) string {
	return "kuma." + Token(cluster) + "." + Token(node) + "." + string(t)
}

// SubjectOf is Subject for an event already built.
func SubjectOf(e Event) string {
	parts := strings.SplitN(e.Source, "/", 3)
	if len(parts) != 3 {
		return "kuma._._." + string(e.ShortType())
	}
	return Subject(parts[1], parts[2], e.ShortType())
}

// Token makes s safe as one subject token: NATS splits on '.', and '*',
// '>' and whitespace are special; they become '_'.
func Token(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '.' || r == '*' || r == '>' || r <= ' ' || r == 0x7f:
			return '_'
		}
		return r
	}, s)
}

// CheckData is the data of check.status_changed.
type CheckData struct {
	Check   string `json:"check"`
	From    string `json:"from"`
	To      string `json:"to"`
	Message string `json:"message"`
	Remedy  string `json:"remedy,omitempty"`
}

// The transitions of a cluster.status_changed event.
const (
	TransitionRaised  = "raised"  // from ok (or nothing published yet) to a problem
	TransitionChanged = "changed" // from one problem status to another (warn -> crit)
	TransitionCleared = "cleared" // back to ok
)

// ClusterCheckData is the data of cluster.status_changed: one cluster-wide
// check's status as the evaluator published it. Exactly one raised per
// fault and one cleared when it goes away, across evaluator handovers.
type ClusterCheckData struct {
	Check      string   `json:"check"`
	Status     string   `json:"status"`
	Previous   string   `json:"previous"` // "none" before the first publication
	Transition string   `json:"transition"`
	Message    string   `json:"message"`
	Details    []string `json:"details,omitempty"`
	Remedy     string   `json:"remedy,omitempty"`
	Nodes      []string `json:"nodes,omitempty"` // the nodes the finding is about
	Evaluator  string   `json:"evaluator"`       // the node that evaluated it
}

// MemberData is the data of member.* events.
type MemberData struct {
	Member string `json:"member"`
	Addr   string `json:"addr,omitempty"`
	Status string `json:"status"`
}

// UnitData is the data of unit.state_changed.
type UnitData struct {
	Unit        string `json:"unit"`
	ActiveState string `json:"active_state"`
	SubState    string `json:"sub_state,omitempty"`
	Result      string `json:"result,omitempty"`
	Condition   string `json:"condition,omitempty"` // the supervisor's reading: failed, stopped, unknown, ...
}

// RaftStepData is one step of a Raft recovery executed through the agents
// (raft.step_*): the operation (its procedure and id), the node the step
// ran on and the step's name from the fixed table (internal/raftops).
type RaftStepData struct {
	Operation string `json:"operation"` // operation id, one per --execute
	Procedure string `json:"procedure"` // remove-node, restore-cluster
	Node      string `json:"node"`      // where the step ran
	Step      string `json:"step"`
	// Result (raft.step_done) or Reason (raft.step_failed): the target
	// agent's answer, e.g. the backup taken or why it refused.
	Result string `json:"result,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// HealingData is the data of healing.* events.
type HealingData struct {
	Unit   string `json:"unit"`
	Action string `json:"action"` // restart, rejoin, remove-member
	Reason string `json:"reason,omitempty"`
	DryRun bool   `json:"dry_run,omitempty"`
	Group  string `json:"group,omitempty"` // raft, etcd: taken under the cluster lease
	// Attempt counts this unit's attempts in the policy window (1 = first).
	Attempt int `json:"attempt,omitempty"`
	// ReactionMS (healing.started/proposed): from the unit entering the
	// state being healed (systemd's StateChangeTimestamp) to the action.
	ReactionMS float64 `json:"reaction_ms,omitempty"`
	// DurationMS and Result (healing.finished): how long the action took and
	// how it ended (e.g. "active").
	DurationMS float64 `json:"duration_ms,omitempty"`
	Result     string  `json:"result,omitempty"`
}

// LeaseData is the data of lease.* events.
type LeaseData struct {
	Purpose   string    `json:"purpose"`
	Holder    string    `json:"holder"`
	Previous  string    `json:"previous,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

// AgentData is the data of agent.* events.
type AgentData struct {
	Version string `json:"version"`
}

// DroppedData is the data of events.dropped: how many events the outbox
// discarded, why, and the span they covered (when known).
type DroppedData struct {
	Count       uint64    `json:"count"`
	OldestTime  time.Time `json:"oldest_time,omitzero"`
	NewestTime  time.Time `json:"newest_time,omitzero"`
	OutboxLimit int64     `json:"outbox_limit_bytes"`
	// Reasons splits Count by cause: DropOverflow, DropMemory, DropCorrupt,
	// DropTooLarge, DropUnreadable.
	Reasons map[string]uint64 `json:"reasons,omitempty"`
	// Uncounted: corrupt data may have held more events than Count says
	// (a damaged stretch of a segment counts as one); Count is then a
	// lower bound.
	Uncounted bool `json:"uncounted,omitempty"`
	// Quarantined names the corrupt outbox files moved aside, in the
	// outbox's quarantine/ directory.
	Quarantined []string `json:"quarantined,omitempty"`
}

// Reasons of DroppedData.
const (
	DropOverflow   = "overflow"    // the outbox was full: oldest dropped
	DropMemory     = "memory-full" // the state directory failed and the memory buffer was full: oldest dropped
	DropCorrupt    = "corrupt"     // a record failed its CRC, or sat in a corrupt stretch of a segment
	DropTooLarge   = "too-large"   // an event larger than the outbox takes
	DropUnreadable = "unreadable"  // a stored record could not be read back
)
