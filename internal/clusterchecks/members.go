package clusterchecks

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/safetext"
)

// MembersCheck compares the mesh with the inventory: failed agents are
// critical (the node or its agent is down); inventory hosts never seen by
// the mesh are warnings; so are members the inventory does not vouch for
// (not in it, in it under another case, or at another address than its
// inventory IP): they are reported here and ignored for every decision
// (see Believed). Members that left (a clean shutdown) are listed only.
func MembersCheck(v View) checks.Result { return members(v, &finding{}) }

// members is the check; it fills f's nodes and values as it goes (see findingOf).
func members(v View, f *finding) checks.Result {
	if len(v.Members) == 0 {
		return checks.Unknownf("no mesh members known (not even this node)", "Start kuma-agent (`systemctl enable --now kuma-agent`) and check its log (`journalctl -u kuma-agent`).")
	}
	seen := map[string]bool{}
	var failed, failedNames, stranger, caseOnly, elsewhere, details []string
	alive := 0
	members := slices.Clone(v.Members)
	slices.SortFunc(members, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	for _, m := range members {
		seen[m.Name] = true
		name := safetext.Escape(m.Name)
		if v.Inventory != nil {
			if _, err := v.Inventory.Vouch(m.Name, m.Addr); err != nil {
				// Reported with its status, counted nowhere else: a
				// stranger that failed is no failed node of the cluster.
				note := fmt.Sprintf("; %s (%s in the mesh)", ignoredNote, m.Status)
				switch inv := v.Inventory.HostFold(m.Name); {
				case v.Inventory.Host(m.Name) != nil:
					elsewhere = append(elsewhere, name)
					details = append(details, err.Error()+note)
				case inv != nil:
					seen[inv.Name] = true
					caseOnly = append(caseOnly, name)
					details = append(details, fmt.Sprintf("member %s: the inventory spells it %s; KUMA needs `hostname -f` to equal the inventory name exactly, case included%s", name, inv.Name, note))
				default:
					stranger = append(stranger, name)
					details = append(details, err.Error()+note)
				}
				continue
			}
		}
		switch m.Status {
		case StatusAlive:
			alive++
		case StatusFailed:
			failed = append(failed, name+since(m.Since))
			failedNames = append(failedNames, name)
			details = append(details, name+": failed"+since(m.Since))
		case StatusLeft:
			details = append(details, name+": left the mesh"+since(m.Since)+" (its agent shut down cleanly)")
		case StatusLeaving:
			details = append(details, name+": leaving the mesh")
		default:
			details = append(details, fmt.Sprintf("%s: status %q", name, m.Status))
		}
	}
	var unseen []string
	if v.Inventory != nil {
		for _, h := range v.Inventory.Hosts {
			if !seen[h.Name] && !slices.Contains(unseen, h.Name) {
				unseen = append(unseen, h.Name)
				details = append(details, h.Name+": in the inventory, never seen by the mesh")
			}
		}
	}

	f.nodes = append(append(append(append(append(f.nodes, failedNames...), unseen...), stranger...), caseOnly...), elsewhere...)
	res := checks.Result{Status: checks.OK, Details: details}
	var msgs, remedies []string
	if len(failed) > 0 {
		res.Status = checks.Crit
		msgs = append(msgs, "failed: "+nameList(failed))
		remedies = append(remedies, fmt.Sprintf("Check that these nodes are up and that kuma-agent runs there: %s (`systemctl status kuma-agent`); "+
			"if a node was removed for good, remove it from the inventory too.", nameList(failedNames)))
	}
	if len(unseen) > 0 {
		res.Status = checks.Worst(res.Status, checks.Warn)
		msgs = append(msgs, "never seen by the mesh: "+nameList(unseen))
		remedies = append(remedies, fmt.Sprintf("On %s install and start kuma-agent (`systemctl enable --now kuma-agent`); "+
			"make sure the gossip port (mesh.port, 7946 by default) is open over TCP and UDP between the nodes and that "+
			"/etc/kuma-agent/gossip.keyring holds the same key as on the other nodes.", nameList(unseen)))
	}
	if len(stranger) > 0 || len(caseOnly) > 0 {
		res.Status = checks.Worst(res.Status, checks.Warn)
		msgs = append(msgs, "not in the inventory ("+ignoredNote+"): "+nameList(append(slices.Clone(stranger), caseOnly...)))
	}
	if len(elsewhere) > 0 {
		res.Status = checks.Worst(res.Status, checks.Warn)
		msgs = append(msgs, "not at their inventory address ("+ignoredNote+"): "+nameList(elsewhere))
		remedies = append(remedies, fmt.Sprintf("Make kuma-agent on %s gossip from its inventory address (mesh.bind_addr, mesh.advertise_addr in agent.yaml), "+
			"or correct the address in the inventory. If that host is not what advertises this name, an agent holding the gossip key impersonates it: "+
			"find it by the address in the details, stop it and rotate the gossip key (`kuma-agent keyring install|use|remove`).", nameList(elsewhere)))
	}
	if len(stranger) > 0 {
		remedies = append(remedies, fmt.Sprintf("Add %s to the inventory, or, if not part of this cluster, stop kuma-agent there "+
			"(`systemctl disable --now kuma-agent`) and rotate the gossip key it knows.", nameList(stranger)))
	}
	if len(caseOnly) > 0 {
		remedies = append(remedies, fmt.Sprintf("Make the host name of %s (`hostnamectl set-hostname`, /etc/hosts) match the inventory exactly, or fix the inventory.", nameList(caseOnly)))
	}
	if res.Status == checks.OK {
		msg := plural(alive, "member", "members") + " alive"
		if v.Inventory != nil {
			msg += ", every inventory host is in the mesh"
		} else {
			msg += " (no inventory to compare with)"
		}
		res.Message = msg
		return res
	}
	res.Message = strings.Join(msgs, "; ")
	res.Remedy = strings.Join(remedies, " ")
	return res
}

// ignoredNote says what becomes of a member the inventory does not vouch
// for.
const ignoredNote = "ignored for every decision"

func since(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " since " + t.UTC().Format(time.RFC3339)
}
