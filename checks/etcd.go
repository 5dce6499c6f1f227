package checks

import (
	"context"
	"fmt"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/etcd"
)

// EtcdName is the node check of this controller's etcd member.
const EtcdName = "etcd"

// AreaControlPlane groups the checks of Kubernetes' control plane.
const AreaControlPlane Area = "control-plane"

// Etcd asks this controller's etcd about itself (etcd's own API, never
// the agent's ports): endpoint health, the member list, the leader, each
// member's health and raft index, the database size against the quota,
// and the members against the inventory. It applies to controllers only
// (plan.Build). Every input is a field.
type Etcd struct {
	Node string
	// Endpoint is what Survey reads (for messages).
	Endpoint string
	// Survey reads etcd's view (etcd.Client.Survey in production).
	Survey func(ctx context.Context) (etcd.Survey, error)
	// Inventory lists the inventory's etcd hosts by name; nil: no inventory.
	Inventory []string
	// Runbook holds the layout's commands for remedies.
	Runbook etcd.Runbook
	// QuotaBytes is etcd's backend quota; DBWarn and DBCrit percentages of it.
	QuotaBytes     int64
	DBWarn, DBCrit float64
	// RaftLagWarn is the raft index lag behind the highest member that
	// warns.
	RaftLagWarn uint64
	// Publish, if set, receives the summary of every run (gossip).
	Publish func(etcd.Summary)
}

func (*Etcd) Name() string { return EtcdName }
func (*Etcd) Area() Area   { return AreaControlPlane }

// Run implements Check.
func (e *Etcd) Run(ctx context.Context) Result {
	s, err := e.Survey(ctx)
	if err != nil {
		e.publish(etcd.Summary{})
		return Critf(fmt.Sprintf("etcd on this controller does not answer at %s: %v", e.Endpoint, err),
			fmt.Sprintf("Look at etcd's process: %s. If etcd runs, check checks.etcd's endpoint and client certificate files in /etc/kuma-agent/agent.yaml (the layout's are the defaults).", e.Runbook.Service))
	}
	e.publish(s.Summarize(e.Inventory, e.QuotaBytes))
	res := Result{Status: OK}
	var msgs, remedies []string
	raise := func(st Status, msg, remedy string) {
		res.Status = Worst(res.Status, st)
		msgs = append(msgs, msg)
		if remedy != "" {
			remedies = append(remedies, remedy)
		}
	}
	listCmd := e.Runbook.Members

	if !s.Health.OK() {
		why := s.HealthErr
		if why == "" {
			why = "health " + s.Health.Health
			if s.Health.Reason != "" {
				why += ": " + s.Health.Reason
			}
		}
		raise(Crit, "etcd's /health on this controller fails ("+why+")", "See "+listCmd+" and "+e.Runbook.Service+".")
	}
	if s.Leader == 0 {
		raise(Crit, "etcd has no leader (as this member sees it)", "etcd cannot commit anything without a leader: bring back its members ("+listCmd+"); "+e.Runbook.Service+".")
	}
	q := s.Quorum()
	var down []string
	for _, m := range s.Voters() {
		if !m.Healthy {
			down = append(down, memberName(m))
		}
	}
	switch {
	case !q.HasQuorum:
		raise(Crit, fmt.Sprintf("etcd quorum lost: %d of %d members healthy, %d needed (%s down)", q.Healthy, q.Members, q.Needed, strings.Join(down, ", ")),
			"Bring back the members "+strings.Join(down, ", ")+" ("+listCmd+" on a live controller). Below quorum the Kubernetes cluster cannot be managed.")
	case len(down) > 0:
		st := Warn
		raise(st, fmt.Sprintf("etcd member unhealthy: %s (%d of %d healthy, margin %d)", strings.Join(down, ", "), q.Healthy, q.Members, q.Margin),
			"Bring back "+strings.Join(down, ", ")+" ("+listCmd+"); do not take down another controller until it is back.")
	}
	var alarms []string
	for _, m := range s.Members {
		if m.Status != nil && len(m.Status.Errors) > 0 {
			alarms = append(alarms, memberName(m)+": "+strings.Join(m.Status.Errors, "; "))
		}
	}
	if len(alarms) > 0 {
		raise(Crit, "etcd reports errors: "+strings.Join(alarms, " | "), "Read the alarm ("+listCmd+"); a NOSPACE alarm needs a compaction and "+e.Runbook.Defrag+", then `etcdctl alarm disarm`.")
	}
	if pct, ok := s.DBPercent(e.QuotaBytes); ok {
		msg := fmt.Sprintf("etcd database at %.0f%% of its %s quota", pct, bytesText(e.QuotaBytes))
		remedy := "Compact and defragment (" + e.Runbook.Defrag + ") or raise etcd's --quota-backend-bytes (and checks.etcd.quota_bytes); at 100% etcd refuses writes."
		switch {
		case pct >= e.DBCrit:
			raise(Crit, msg, remedy)
		case pct >= e.DBWarn:
			raise(Warn, msg, remedy)
		}
	}
	var top uint64
	for _, m := range s.Members {
		if m.Status != nil {
			top = max(top, uint64(m.Status.RaftIndex))
		}
	}
	var lagging []string
	for _, m := range s.Members {
		if m.Status != nil && top-uint64(m.Status.RaftIndex) > e.RaftLagWarn {
			lagging = append(lagging, fmt.Sprintf("%s %d behind", memberName(m), top-uint64(m.Status.RaftIndex)))
		}
	}
	if len(lagging) > 0 {
		raise(Warn, "etcd member lagging: "+strings.Join(lagging, ", "), "A lagging member is slow (disk, CPU) or cut off from the leader: "+e.Runbook.Service+" on it.")
	}
	if e.Inventory != nil {
		unlisted, missing := s.Compare(e.Inventory)
		if len(unlisted) > 0 {
			raise(Warn, "etcd has members the inventory does not: "+strings.Join(unlisted, ", "),
				"A member left over from a replaced controller still counts for quorum: remove it (`k0s etcd leave --peer-address <its peer URL>` or etcdctl member remove), or add the host to the inventory.")
		}
		if len(missing) > 0 {
			raise(Warn, "inventory controllers etcd does not list: "+strings.Join(missing, ", "),
				"Join them to the cluster (k0s: `k0s token create --role controller`; kubeadm: the add-node playbook), or remove them from the inventory.")
		}
	}
	for _, m := range s.Members {
		res.Details = append(res.Details, memberLine(s, m, e.QuotaBytes))
	}
	if res.Status == OK {
		res.Message = fmt.Sprintf("etcd healthy: %d of %d members, leader %s", q.Healthy, q.Members, leaderText(s))
		return res
	}
	res.Message = strings.Join(msgs, "; ")
	res.Remedy = strings.Join(remedies, " ")
	return res
}

func (e *Etcd) publish(s etcd.Summary) {
	if e.Publish != nil {
		e.Publish(s)
	}
}

func memberName(m etcd.MemberView) string {
	if m.Name == "" {
		return fmt.Sprintf("(unnamed %x)", uint64(m.ID))
	}
	return m.Name
}

func leaderText(s etcd.Survey) string {
	if n := s.LeaderName(); n != "" {
		return n
	}
	return fmt.Sprintf("%x", s.Leader)
}

func memberLine(s etcd.Survey, m etcd.MemberView, quota int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (ID %x)", memberName(m), uint64(m.ID))
	if m.Self {
		b.WriteString(" [this node]")
	}
	if uint64(m.ID) == s.Leader {
		b.WriteString(" [leader]")
	}
	if m.IsLearner {
		b.WriteString(" [learner]")
	}
	switch {
	case !m.Healthy:
		b.WriteString(": UNHEALTHY: " + m.Err)
	case m.Status != nil:
		fmt.Fprintf(&b, ": healthy, raft index %d, term %d, db %s (in use %s)", m.Status.RaftIndex, m.Status.RaftTerm,
			bytesText(int64(m.Status.DBSize)), bytesText(int64(m.Status.DBSizeInUse)))
	default:
		b.WriteString(": peer URL reachable (its client API is not reachable from here)")
	}
	return b.String()
}

// bytesText prints a size as the disk check does.
func bytesText(n int64) string { return diskBytes(uint64(max(n, 0))) }
