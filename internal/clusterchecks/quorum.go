package clusterchecks

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// PortsCheckName is the node check whose failure marks a quorum member
// unhealthy: its service does not listen, so it cannot vote.
const PortsCheckName = "ports"

// quorumGroup is one consensus group the quorum check judges.
type quorumGroup struct {
	name    string // in details: "raft", "etcd"
	noun    string // "Core services", "etcd members"
	member  func(cluster.Role) bool
	applies func(v View) bool
	// lost is the remedy when quorum is gone, thin when one more failure
	// loses it; %s is the unhealthy members.
	lost, thin string
	even       string
}

// quorumGroups: data, not branches. The Raft group exists only in Raft
// layouts: in a k0s install the "core" role marks the worker running the
// Core pod, which is no Raft voter.
var quorumGroups = []quorumGroup{
	{
		name: "raft", noun: "Core services", member: cluster.Role.RaftMember, applies: raftApplies,
		lost: "Bring back the Core services on %s (`systemctl status 'kuma-core-*'`, logs in /opt/kaspersky/kuma/core/<ID>/log/core). " +
			"If a majority is lost for good, rebuild from one survivor: stop all Cores; on every node but the seed delete the Core working directory and unit; " +
			"on the seed `touch /opt/kaspersky/kuma/core/<ID>/raft/.reset`, remove `--raft.join` from its unit, `systemctl daemon-reload` and start it; then re-add the peers.",
		thin: "Do not restart or take down another Core host until %s is back: one more failure loses the Raft quorum.",
		even: "Run an odd number of Core services (KUMA allows only odd): add or remove one peer in kuma_core_peers.",
	},
	{
		name: "etcd", noun: "etcd members", member: cluster.Role.EtcdMember, applies: func(View) bool { return true },
		lost: "Bring back the controllers %s (k0s: `systemctl status k0scontroller`, `k0s etcd member-list`; Acura: `systemctl status kubelet`). " +
			"Below quorum the Kubernetes cluster cannot be managed.",
		thin: "Do not restart or take down another controller until %s is back: one more failure loses the etcd quorum.",
		even: "Run an odd number of controllers: an even count tolerates no more failures than one fewer.",
	},
}

// kubeRoles mark a k0s or Acura cluster when there is no inventory.
var kubeRoles = []cluster.Role{cluster.RoleController, cluster.RoleControllerWorker, cluster.RoleWorker, cluster.RoleAcuraNode}

func raftApplies(v View) bool {
	if v.Inventory != nil {
		return v.Inventory.Layout.RaftCore()
	}
	for _, m := range v.Members {
		for _, r := range kubeRoles {
			if m.Tags.Roles.Has(r) {
				return false
			}
		}
	}
	return true
}

// QuorumCheck judges each consensus group (KUMA Core Raft, etcd): its voters
// are the inventory hosts with the group's roles (without an inventory, the
// members advertising them); a voter is healthy when its agent is alive and
// its ports check passes. For etcd, when a controller's agent reports
// etcd's own view (tag e), etcd's member count and health decide instead.
// Lost quorum is critical; a margin of zero (one more failure loses it) or
// an even group is a warning.
func QuorumCheck(v View) checks.Result { return quorum(v, &finding{}) }

// quorum is the check; it fills f's nodes and values as it goes (see findingOf).
func quorum(v View, f *finding) checks.Result {
	members := make(map[string]*Member, len(v.Members))
	for i := range v.Members {
		members[strings.ToLower(v.Members[i].Name)] = &v.Members[i]
	}
	for i := range v.Members { // exact names win over case-folded ones
		members[v.Members[i].Name] = &v.Members[i]
	}

	res := checks.Result{Status: checks.OK}
	var msgs, remedies []string
	for _, g := range quorumGroups {
		if !g.applies(v) {
			continue
		}
		voters := groupVoters(v, g)
		if len(voters) == 0 {
			continue
		}
		var unhealthy, why []string
		var q cluster.Quorum
		fromEtcd := false
		if g.name == "etcd" {
			// etcd's own answer, when a controller's agent reports one: a
			// stopped agent or a closed port is not a member down.
			q, unhealthy, why, fromEtcd = gatherEtcd(v, voters).quorum()
		}
		for _, n := range voters {
			if fromEtcd {
				break
			}
			m := members[n]
			if m == nil {
				m = members[strings.ToLower(n)]
			}
			reason := ""
			switch {
			case m == nil:
				reason = "no kuma-agent in the mesh"
			case m.Status != StatusAlive:
				reason = "agent " + m.Status
			case m.Tags.Etcd != nil && !m.Tags.Etcd.Answered:
				reason = "its etcd does not answer its agent"
			case slices.Contains(m.Tags.Health.Failing, PortsCheckName):
				reason = "its ports check fails"
			}
			if reason != "" {
				unhealthy = append(unhealthy, n)
				why = append(why, fmt.Sprintf("%s: %s unhealthy: %s", g.name, n, reason))
			}
		}
		if !fromEtcd {
			q = cluster.QuorumOf(len(voters), len(voters)-len(unhealthy))
		}
		if f.values == nil {
			f.values = map[string]float64{}
		}
		f.values[g.name] = float64(q.Margin)
		f.nodes = append(f.nodes, unhealthy...)
		line := fmt.Sprintf("%d %s, %d healthy, quorum %d, margin %d", q.Members, g.noun, q.Healthy, q.Needed, q.Margin)
		res.Details = append(res.Details, fmt.Sprintf("%s: %s (%s)", g.name, line, strings.Join(voters, ", ")))
		res.Details = append(res.Details, why...)
		down := nameList(unhealthy)
		if down == "" && q.Healthy < q.Members {
			// etcd counts a member down that no agent names (all alive).
			down = "the member etcd reports down (`kuma-agent doctor --only etcd` on a controller names it)"
		}
		st := checks.OK
		switch {
		case !q.HasQuorum:
			st = checks.Crit
			line += ": QUORUM LOST"
			remedies = append(remedies, fmt.Sprintf(g.lost, down))
		case q.Margin == 0:
			st = checks.Warn
			line += ": one more failure loses quorum"
			if down != "" {
				remedies = append(remedies, fmt.Sprintf(g.thin, down))
			} else if q.Members%2 == 1 {
				remedies = append(remedies, fmt.Sprintf("%d %s tolerate no failure: add members for fault tolerance.", q.Members, g.noun))
			}
		}
		if q.Members > 1 && q.Members%2 == 0 {
			st = checks.Worst(st, checks.Warn)
			line += fmt.Sprintf(" (even: tolerates no more failures than %d)", q.Members-1)
			remedies = append(remedies, g.even)
		}
		res.Status = checks.Worst(res.Status, st)
		msgs = append(msgs, line)
	}
	if len(msgs) == 0 {
		if v.Inventory == nil {
			return checks.Unknownf("no quorum group known: no inventory and no member advertises a Core Raft or etcd role",
				"Point `inventory` in /etc/kuma-agent/agent.yaml at the cluster's inventory file.")
		}
		return checks.Okf("no quorum groups in this cluster (no Raft Core or etcd members)")
	}
	res.Message = strings.Join(msgs, "; ")
	res.Remedy = strings.Join(remedies, " ")
	return res
}

// groupVoters lists the group's voters by name, in inventory order (or
// sorted member names without an inventory).
func groupVoters(v View, g quorumGroup) []string {
	var out []string
	if v.Inventory != nil {
		for _, h := range v.Inventory.Hosts {
			if h.Roles.Any(g.member) && !slices.Contains(out, h.Name) {
				out = append(out, h.Name)
			}
		}
		return out
	}
	for _, m := range v.Members {
		if m.Tags.Roles.Any(g.member) {
			out = append(out, m.Name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
