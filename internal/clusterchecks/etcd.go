package clusterchecks

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/etcd"
)

// EtcdCheckName is the cluster check of etcd as etcd reports itself.
const EtcdCheckName = "cluster-etcd" // Values: members, healthy, margin, db_percent

// Default etcd database thresholds, percent of the quota (checks.etcd).
const (
	DefaultEtcdDBWarn = 80
	DefaultEtcdDBCrit = 95
)

// etcdReport is one controller's gossiped etcd summary.
type etcdReport struct {
	node string
	s    etcd.Summary
}

// etcdView is what the etcd voters' agents say of etcd.
type etcdView struct {
	voters []string
	// reports are the alive voters' summaries, in voter order.
	reports []etcdReport
	// best is the answered report believed for the group: one with a
	// leader (a member on the majority's side), the most healthy members
	// among those; nil when no voter's etcd answered.
	best *etcdReport
	// silent are voters whose agent says its etcd does not answer.
	silent []string
	// absent are voters with no alive agent in the mesh.
	absent []string
}

func gatherEtcd(v View, voters []string) etcdView {
	ev := etcdView{voters: voters}
	members := memberIndex(v)
	for _, n := range voters {
		m := members(n)
		switch {
		case m == nil || m.Status != StatusAlive:
			ev.absent = append(ev.absent, n)
		case m.Tags.Etcd != nil:
			ev.reports = append(ev.reports, etcdReport{node: n, s: *m.Tags.Etcd})
			if !m.Tags.Etcd.Answered {
				ev.silent = append(ev.silent, n)
			}
		}
	}
	rank := func(r etcdReport) []int {
		lead := 0
		if r.s.Leader != 0 {
			lead = 1
		}
		return []int{lead, r.s.Healthy, r.s.Members}
	}
	for i, r := range ev.reports {
		if !r.s.Answered {
			continue
		}
		if ev.best == nil || slices.Compare(rank(r), rank(*ev.best)) > 0 {
			ev.best = &ev.reports[i]
		}
	}
	return ev
}

// quorum is the group's quorum by etcd's own answer, the voters to name
// as unhealthy (those whose etcd does not answer; those without an agent
// only while etcd counts members down: a stopped agent on a healthy
// controller is no failure) and a line on whose view it is. ok false: no
// voter's etcd answered, and etcd's view is unknown.
func (ev etcdView) quorum() (q cluster.Quorum, unhealthy, why []string, ok bool) {
	if ev.best == nil {
		return q, nil, nil, false
	}
	b := ev.best.s
	q = cluster.QuorumOf(b.Members, b.Healthy)
	for _, n := range ev.silent {
		unhealthy = append(unhealthy, n)
		why = append(why, fmt.Sprintf("etcd: %s unhealthy: its etcd does not answer its agent", n))
	}
	if b.Healthy < b.Members {
		for _, n := range ev.absent {
			unhealthy = append(unhealthy, n)
			why = append(why, fmt.Sprintf("etcd: %s possibly the member down: no kuma-agent alive there", n))
		}
	}
	why = append([]string{fmt.Sprintf("etcd: per etcd itself, as %s's member sees it: %d of %d members healthy", ev.best.node, b.Healthy, b.Members)}, why...)
	return q, unhealthy, why, true
}

// memberIndex finds a member by name (exact first, then case-folded), as
// the quorum check does.
func memberIndex(v View) func(string) *Member {
	byName := make(map[string]*Member, len(v.Members))
	for i := range v.Members {
		byName[strings.ToLower(v.Members[i].Name)] = &v.Members[i]
	}
	for i := range v.Members {
		byName[v.Members[i].Name] = &v.Members[i]
	}
	return func(n string) *Member {
		if m := byName[n]; m != nil {
			return m
		}
		return byName[strings.ToLower(n)]
	}
}

// etcdGroup is the quorum table's etcd row.
func etcdGroup() quorumGroup {
	i := slices.IndexFunc(quorumGroups, func(g quorumGroup) bool { return g.name == "etcd" })
	return quorumGroups[i]
}

// etcdCluster judges etcd from the controllers' own etcd reports: a
// member unhealthy, no leader, leaders that disagree, the quorum margin,
// members etcd lists that the inventory does not have (and the reverse),
// the database near its quota.
func etcdCluster(v View, f *finding) checks.Result {
	voters := groupVoters(v, etcdGroup())
	if len(voters) == 0 {
		return checks.Okf("no etcd members in this cluster")
	}
	layout := cluster.LayoutK0s
	if v.Inventory != nil {
		layout = v.Inventory.Layout
	}
	ev := gatherEtcd(v, voters)
	rb := func(node string) etcd.Runbook { return etcd.RunbookFor(layout, node) }
	if len(ev.reports) == 0 {
		return checks.Unknownf(fmt.Sprintf("no controller reports etcd's view (%s: no alive agent with an etcd check)", nameList(voters)),
			"Run `kuma-agent doctor --only etcd` on a controller; the etcd check needs kuma-agent on the controllers and etcd's client certificates (checks.etcd).")
	}
	var details []string
	for _, r := range ev.reports {
		details = append(details, fmt.Sprintf("%s: %s", r.node, summaryText(r.s)))
	}
	for _, n := range ev.absent {
		details = append(details, n+": no kuma-agent alive (etcd's view from the others)")
	}
	if ev.best == nil {
		f.nodes = append(f.nodes, ev.silent...)
		return checks.Critf(fmt.Sprintf("no controller's etcd answers its agent (%s)", nameList(ev.silent)),
			"Look at etcd on the controllers: "+rb(ev.silent[0]).Service+", "+rb(ev.silent[0]).Members+".", details...)
	}
	b := ev.best.s
	q, unhealthy, _, _ := ev.quorum()
	f.values = map[string]float64{"members": float64(q.Members), "healthy": float64(q.Healthy), "margin": float64(q.Margin), "db_percent": float64(b.DBPercent)}
	res := checks.Result{Status: checks.OK, Details: details}
	var msgs, remedies []string
	raise := func(st checks.Status, msg, remedy string, nodes ...string) {
		res.Status = checks.Worst(res.Status, st)
		msgs = append(msgs, msg)
		remedies = append(remedies, remedy)
		f.nodes = append(f.nodes, nodes...)
	}
	see := rb(ev.best.node).Members
	switch {
	case !q.HasQuorum:
		raise(checks.Crit, fmt.Sprintf("etcd quorum lost: %d of %d members healthy, %d needed (per etcd, as %s sees it)", q.Healthy, q.Members, q.Needed, ev.best.node),
			"Bring back the controllers' etcd ("+see+"). Below quorum the Kubernetes cluster cannot be managed.", unhealthy...)
	case q.Healthy < q.Members:
		raise(checks.Warn, fmt.Sprintf("etcd member unhealthy: %d of %d members healthy, quorum margin %d (per etcd, as %s sees it)", q.Healthy, q.Members, q.Margin, ev.best.node),
			"Find the member down ("+see+" on "+ev.best.node+") and bring it back; do not take down another controller meanwhile.", unhealthy...)
	case len(ev.silent) > 0:
		raise(checks.Warn, "etcd does not answer its agent on "+nameList(ev.silent),
			"On "+nameList(ev.silent)+": "+rb(ev.silent[0]).Service+"; `kuma-agent doctor --only etcd` says what failed (etcd down, or checks.etcd's endpoint or certificates).", ev.silent...)
	}
	if b.Leader == 0 {
		raise(checks.Crit, "etcd has no leader (no controller's member knows one)", "etcd commits nothing without a leader: "+see+"; bring back its members.")
	}
	leaders := map[uint64][]string{}
	for _, r := range ev.reports {
		if r.s.Answered && r.s.Leader != 0 {
			leaders[r.s.Leader] = append(leaders[r.s.Leader], r.node)
		}
	}
	if len(leaders) > 1 {
		var parts []string
		for _, id := range slices.Sorted(maps.Keys(leaders)) {
			parts = append(parts, fmt.Sprintf("%x by %s", id, strings.Join(leaders[id], ", ")))
		}
		raise(checks.Warn, "controllers see different etcd leaders: "+strings.Join(parts, "; "),
			"An election in progress settles in seconds; if it lasts, a member is cut off from the others: "+see+".")
	}
	var unlisted, missing, full, near []string
	warnAt, critAt := cmp.Or(v.EtcdDBWarn, DefaultEtcdDBWarn), cmp.Or(v.EtcdDBCrit, DefaultEtcdDBCrit)
	for _, r := range ev.reports {
		if r.s.Unlisted > 0 {
			unlisted = append(unlisted, r.node)
		}
		if r.s.Missing > 0 {
			missing = append(missing, r.node)
		}
		switch p := float64(r.s.DBPercent); {
		case p >= critAt:
			full = append(full, r.node)
		case p >= warnAt:
			near = append(near, r.node)
		}
	}
	if len(unlisted) > 0 {
		raise(checks.Warn, "etcd has members the inventory does not (as "+nameList(unlisted)+" see it)",
			"`kuma-agent doctor --only etcd` on "+unlisted[0]+" names them; remove a leftover member or add its host to the inventory.", unlisted...)
	}
	if len(missing) > 0 {
		raise(checks.Warn, "inventory controllers are not etcd members (as "+nameList(missing)+" see it)",
			"`kuma-agent doctor --only etcd` on "+missing[0]+" names them; join them or remove them from the inventory.", missing...)
	}
	if len(full) > 0 {
		raise(checks.Crit, fmt.Sprintf("etcd database at %.0f%% of its quota or more (%s)", critAt, nameList(full)), "Compact and defragment: "+rb(full[0]).Defrag+"; at 100% etcd refuses writes.", full...)
	} else if len(near) > 0 {
		raise(checks.Warn, fmt.Sprintf("etcd database at %.0f%% of its quota or more (%s)", warnAt, nameList(near)), "Compact and defragment: "+rb(near[0]).Defrag+".", near...)
	}
	if res.Status == checks.OK {
		res.Message = fmt.Sprintf("etcd healthy: %d of %d members, quorum margin %d (per etcd, as %s sees it)", q.Healthy, q.Members, q.Margin, ev.best.node)
		return res
	}
	res.Message = strings.Join(msgs, "; ")
	res.Remedy = strings.Join(remedies, " ")
	return res
}

func summaryText(s etcd.Summary) string {
	if !s.Answered {
		return "etcd does not answer its agent"
	}
	db := "db unknown"
	if s.DBPercent >= 0 {
		db = fmt.Sprintf("db %d%% of quota", s.DBPercent)
	}
	return fmt.Sprintf("%d of %d members healthy, leader %x, %s, %d unlisted, %d missing", s.Healthy, s.Members, s.Leader, db, s.Unlisted, s.Missing)
}
