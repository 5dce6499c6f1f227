package clusterchecks

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kuma-agent/kuma-agent/checks"
)

// machineIDCommand is the documented regeneration (kuma-ha.md section 1a).
const machineIDCommand = "rm /etc/machine-id /var/lib/dbus/machine-id && dbus-uuidgen --ensure=/etc/machine-id && dbus-uuidgen --ensure && reboot"

// machineIDCaution is the documented precondition of that command.
const machineIDCaution = "Run it only after the host's administrator confirms that nothing else depends on the old id."

// MachineIDCheck finds members (any status but left) sharing a machine-id,
// as cloned VMs do: duplicates destabilise k0s HA clusters. Agents gossip
// only MachineIDHash, so equal hashes mean equal ids.
func MachineIDCheck(v View) checks.Result { return machineID(v, &finding{}) }

// machineID is the check; it fills f's nodes and values as it goes (see findingOf).
func machineID(v View, f *finding) checks.Result {
	byHash := map[string][]string{}
	var unknown []string
	considered := 0
	for _, m := range v.Members {
		if m.Status == StatusLeft {
			continue
		}
		considered++
		if m.Tags.MachineIDHash == "" {
			unknown = append(unknown, m.Name)
			continue
		}
		byHash[m.Tags.MachineIDHash] = append(byHash[m.Tags.MachineIDHash], m.Name)
	}
	slices.Sort(unknown)
	var details []string
	for _, n := range unknown {
		details = append(details, n+": machine-id unknown (its agent did not publish one)")
	}

	var groups [][]string
	for _, names := range byHash {
		if len(names) > 1 {
			slices.Sort(names)
			groups = append(groups, names)
		}
	}
	slices.SortFunc(groups, func(a, b []string) int { return strings.Compare(a[0], b[0]) })

	if len(groups) > 0 {
		var msgs, fixes, dup []string
		for _, g := range groups {
			msgs = append(msgs, strings.Join(g, ", "))
			fixes = append(fixes, fmt.Sprintf("keep %s, regenerate on %s", g[0], strings.Join(g[1:], ", ")))
			f.nodes = append(f.nodes, g...)
			dup = append(dup, fmt.Sprintf("same machine-id on %s", strings.Join(g, ", ")))
		}
		remedy := fmt.Sprintf("On all but one node of each group (%s) run `%s`. %s",
			strings.Join(fixes, "; "), machineIDCommand, machineIDCaution)
		return checks.Critf("duplicate machine-id (cloned VMs?): "+strings.Join(msgs, "; "), remedy, append(dup, details...)...)
	}

	known := considered - len(unknown)
	switch {
	case considered == 0:
		return checks.Unknownf("no members to compare machine-ids of", "")
	case known < 2 && len(unknown) > 0:
		return checks.Unknownf(fmt.Sprintf("cannot compare machine-ids: unknown on %s", nameList(unknown)),
			"Upgrade kuma-agent on those nodes so that it publishes the machine-id hash.", details...)
	}
	msg := plural(known, "node has a distinct machine-id", "nodes have distinct machine-ids")
	if len(unknown) > 0 {
		msg += fmt.Sprintf(" (%d unknown)", len(unknown))
	}
	return checks.Okf(msg, details...)
}
