package clusterchecks

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/kuma-agent/kuma-agent/checks"
)

// CoreFacts is what one node's KUMA Core unit says about itself (its
// ExecStart, read over D-Bus) and what its agent read of its Raft state:
// the part of a doctor answer the cluster-raft check judges.
type CoreFacts struct {
	Unit     string `json:"unit"`
	ID       string `json:"id,omitempty"`
	Active   bool   `json:"active"`
	RaftAddr string `json:"raft_node_addr,omitempty"` // --raft.node.addr
	Join     string `json:"raft_join,omitempty"`      // --raft.join
	Raft     string `json:"raft,omitempty"`           // leader, follower, out, "" unknown
	// Argv is the unit's command line (dropped when over maxArgvBytes);
	// Backup the time of the newest backup of its working directory.
	Argv   []string `json:"argv,omitempty"`
	Backup string   `json:"backup,omitempty"`
}

// Caps on CoreFacts in a doctor answer: a node runs one Core (KUMA), a
// few more are a finding, never a flood.
const (
	MaxCoreFacts    = 4
	maxCoreFactText = 256
	maxArgvBytes    = 1024
)

// CapCoreFacts bounds a node's CoreFacts (count and field lengths); what
// was dropped is counted in the second result.
func CapCoreFacts(fs []CoreFacts) ([]CoreFacts, int) {
	dropped := 0
	if len(fs) > MaxCoreFacts {
		dropped = len(fs) - MaxCoreFacts
		fs = fs[:MaxCoreFacts]
	}
	out := make([]CoreFacts, len(fs))
	for i, f := range fs {
		for _, p := range []*string{&f.Unit, &f.ID, &f.RaftAddr, &f.Join, &f.Raft, &f.Backup} {
			if len(*p) > maxCoreFactText {
				*p = (*p)[:maxCoreFactText]
			}
		}
		n := 0
		for _, a := range f.Argv {
			n += len(a) + 1
		}
		if n > maxArgvBytes || len(f.Argv) > 64 {
			f.Argv = nil
		} else {
			f.Argv = slices.Clone(f.Argv)
		}
		out[i] = f
	}
	return out, dropped
}

// RaftCheck judges the Raft Cores across the cluster from their units and
// the gossiped Raft states: no two Cores claim one --raft.node.addr; every
// --raft.join names a Core some unit runs at; the count of Cores seen
// alive (an active unit on a node that answered) is odd and matches the
// inventory; and where the site configured a Raft state signal, exactly
// one Core leads.
func RaftCheck(v View) checks.Result {
	if !raftApplies(v) {
		return checks.Okf("no Raft Core layout: not judged")
	}
	if len(v.Cores) == 0 {
		// Nothing to judge (no supervisor reads units, or no Core runs):
		// the quorum check still counts the inventory's Cores.
		return checks.Okf("no node reported a KUMA Core unit (the supervisor reads them over D-Bus): not judged")
	}
	worst := checks.OK
	var details, remedies []string
	add := func(st checks.Status, detail, remedy string) {
		worst = checks.Worst(worst, st)
		details = append(details, st.String()+": "+detail)
		if remedy != "" && !slices.Contains(remedies, remedy) {
			remedies = append(remedies, remedy)
		}
	}
	byAddr := map[string][]string{}
	alive := 0
	var joins []struct{ unit, node, target string }
	for _, node := range slices.Sorted(maps.Keys(v.Cores)) {
		for _, f := range v.Cores[node] {
			if f.RaftAddr != "" {
				k := strings.ToLower(f.RaftAddr)
				byAddr[k] = append(byAddr[k], node)
			}
			if f.Active {
				alive++
			}
			if f.Join != "" {
				joins = append(joins, struct{ unit, node, target string }{f.Unit, node, f.Join})
			}
			details = append(details, fmt.Sprintf("%s: %s active=%v raft.node.addr=%s raft.join=%s raft=%s", node, f.Unit, f.Active,
				orDash(f.RaftAddr), orDash(f.Join), orDash(f.Raft)))
		}
	}
	for _, addr := range slices.Sorted(maps.Keys(byAddr)) {
		if nodes := byAddr[addr]; len(nodes) > 1 {
			add(checks.Crit, fmt.Sprintf("--raft.node.addr %s is claimed by the Cores on %s", addr, strings.Join(nodes, ", ")),
				"Each Core's --raft.node.addr is its own FQDN:7209: reinstall the wrong one as KUMA documents (`kuma-agent raft restore-node`).")
		}
	}
	for _, j := range joins {
		if _, ok := byAddr[strings.ToLower(j.target)]; !ok {
			add(checks.Warn, fmt.Sprintf("%s on %s: --raft.join %s is no Core any unit of the cluster runs at", j.unit, j.node, j.target),
				"The Cores do not agree on the set of Raft peers: a Core joined through a node that is gone. Check `kuma-agent raft status`; if that node was removed for good, the unit's --raft.join is stale.")
		}
	}
	if v.Inventory != nil {
		want := len(v.Inventory.RaftMembers())
		if alive != want {
			add(checks.Warn, fmt.Sprintf("%s seen alive, the inventory lists %d", plural(alive, "Raft Core", "Raft Cores"), want),
				"Bring back the missing Cores, or update the inventory after a documented removal.")
		}
	}
	if alive > 0 && alive%2 == 0 {
		add(checks.Warn, fmt.Sprintf("%d Raft Cores alive: KUMA allows only an odd number of Core services", alive),
			"Run an odd number of Cores (kuma_core_peers holds an even number of hosts).")
	}
	var leaders, read []string
	for _, m := range v.Members {
		if m.Status != StatusAlive {
			continue
		}
		switch m.Tags.Raft {
		case "leader":
			leaders = append(leaders, m.Name)
			read = append(read, m.Name)
		case "follower", "out":
			read = append(read, m.Name)
		}
	}
	slices.Sort(leaders)
	switch {
	case len(read) == 0:
		details = append(details, "leader count not judged: no node reads its Core's Raft state (supervisor.rejoin health/log/command signals are not configured; KUMA documents none)")
	case len(leaders) == 0:
		add(checks.Crit, fmt.Sprintf("no leader among the %s whose Raft state is read", plural(len(read), "Core", "Cores")),
			"Without a leader the Raft cluster accepts no writes: check the Cores' logs (/opt/kaspersky/kuma/core/<ID>/log/core); if the majority is lost for good, `kuma-agent raft restore-cluster --initial NODE`.")
	case len(leaders) > 1:
		add(checks.Crit, fmt.Sprintf("%d Cores say they lead: %s", len(leaders), strings.Join(leaders, ", ")),
			"Two leaders mean a split or a stale reading: check the network between the Cores (`kuma-agent doctor --cluster` reachability) before touching any Core.")
	}
	r := checks.Result{Status: worst, Details: details, Remedy: strings.Join(remedies, " ")}
	if worst == checks.OK {
		r.Message = fmt.Sprintf("%s alive; units agree on the Raft peers", plural(alive, "Raft Core", "Raft Cores"))
	} else {
		r.Message = "the Raft Cores disagree or miss"
	}
	return r
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
