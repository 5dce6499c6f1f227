package checks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/kumaunit"
)

// KUMAUnitsName is the node check over the KUMA units' own command lines.
const KUMAUnitsName = "kuma-units"

// KUMAUnit is one KUMA unit on this node as systemd reports it: its name,
// whether it is active, and its ExecStart parsed (nil with ExecErr when it
// could not be read).
type KUMAUnit struct {
	Unit    string
	Active  bool
	Exec    *kumaunit.Exec
	ExecErr string
}

// KUMAUnits checks what the KUMA units on this node say about themselves
// against the inventory and KUMA's documented rules (the rules table
// below; README "KUMA facts" names the source of each). Every input is a
// field.
type KUMAUnits struct {
	Node string
	// RaftAddr is the Raft address the inventory gives this node's Core:
	// its raft_node_addr, else <inventory name>:7209.
	RaftAddr string
	// Cores are the inventory's Raft Cores: name and Raft address. Empty:
	// no inventory, and the inventory rules are not judged.
	Cores []InventoryCore
	// Units lists this node's KUMA units; an error is "cannot tell".
	Units func(ctx context.Context) ([]KUMAUnit, error)
	// WorkRoot holds the Cores' working directories (<root>/<ID>);
	// default /opt/kaspersky/kuma/core.
	WorkRoot string
	// Restoring reports a guided restore in progress on this node (a
	// raft/.reset is then expected); nil: none.
	Restoring func() bool
	// Stat is os.Stat unless a test sets it.
	Stat func(string) (fs.FileInfo, error)
}

// InventoryCore is a Raft Core of the inventory.
type InventoryCore struct {
	Name     string // inventory name (FQDN)
	RaftAddr string // raft_node_addr, else Name:7209
}

// DefaultWorkRoot is where KUMA keeps each Core's working directory.
const DefaultWorkRoot = "/opt/kaspersky/kuma/core"

func (*KUMAUnits) Name() string { return KUMAUnitsName }
func (*KUMAUnits) Area() Area   { return AreaServices }

// unitFinding is one rule's verdict on one unit.
type unitFinding struct {
	status Status
	detail string
	remedy string
}

// unitRule judges this node's units (all of them: some rules count).
type unitRule func(k *KUMAUnits, units []KUMAUnit) []unitFinding

// kumaUnitRules is the table of rules, in report order.
var kumaUnitRules = []unitRule{
	ruleExecRead,
	ruleOneCorePerHost,
	ruleRaftNodeAddr,
	ruleRaftJoin,
	ruleWorkDir,
	ruleLeftoverReset,
	ruleCoreList,
	ruleUnitID,
	ruleFlagProblems,
}

func (k *KUMAUnits) Run(ctx context.Context) Result {
	if k.Units == nil {
		return Unknownf("the KUMA units cannot be read here (no supervisor)", "Enable supervisor (supervisor.enabled) to read the units over D-Bus.")
	}
	units, err := k.Units(ctx)
	if err != nil {
		return Unknownf("cannot read the KUMA units: "+err.Error(), "Check that systemd and D-Bus run (`systemctl is-system-running`).")
	}
	if len(units) == 0 {
		return Okf("no KUMA service unit on this node")
	}
	worst := OK
	var details, remedies []string
	for _, rule := range kumaUnitRules {
		for _, f := range rule(k, units) {
			worst = Worst(worst, f.status)
			details = append(details, fmt.Sprintf("%s: %s", f.status, f.detail))
			if f.remedy != "" && !slices.Contains(remedies, f.remedy) {
				remedies = append(remedies, f.remedy)
			}
		}
	}
	// What each unit says, unknown flags included: shown, never fatal.
	for _, u := range units {
		if u.Exec == nil {
			continue
		}
		var ls []string
		for _, l := range u.Exec.Listeners() {
			ls = append(ls, "--"+l.Flag+" "+l.Addr)
		}
		line := fmt.Sprintf("%s: listeners [%s]", u.Unit, strings.Join(ls, ", "))
		if unk := u.Exec.Unknown(); len(unk) > 0 {
			var names []string
			for _, f := range unk {
				names = append(names, "--"+f.Name)
			}
			line += fmt.Sprintf("; flags the agent does not know (kept): %s", strings.Join(names, " "))
		}
		details = append(details, line)
	}
	r := Result{Status: worst, Details: details, Remedy: strings.Join(remedies, " ")}
	if worst == OK {
		r.Message = fmt.Sprintf("%d KUMA units agree with the inventory and KUMA's rules", len(units))
	} else {
		r.Message = "KUMA units disagree with the inventory or KUMA's rules"
	}
	return r
}

func cores(units []KUMAUnit) []KUMAUnit {
	var out []KUMAUnit
	for _, u := range units {
		if k, _, ok := kumaunit.ParseName(u.Unit); ok && k == kumaunit.KindCore {
			out = append(out, u)
		}
	}
	return out
}

func ruleExecRead(_ *KUMAUnits, units []KUMAUnit) []unitFinding {
	var out []unitFinding
	for _, u := range units {
		if u.Exec == nil {
			why := u.ExecErr
			if why == "" {
				why = "not read"
			}
			out = append(out, unitFinding{Unknown, fmt.Sprintf("%s: command line unknown (%s): its rules are not judged", u.Unit, why),
				fmt.Sprintf("`systemctl show -p ExecStart %s` shows what systemd has.", u.Unit)})
		}
	}
	return out
}

// KUMA: one Core per host.
func ruleOneCorePerHost(k *KUMAUnits, units []KUMAUnit) []unitFinding {
	cs := cores(units)
	if len(cs) <= 1 {
		return nil
	}
	var names []string
	for _, c := range cs {
		names = append(names, c.Unit)
	}
	return []unitFinding{{Crit, fmt.Sprintf("%d Core units on one host (%s): KUMA allows one Core per host", len(cs), strings.Join(names, ", ")),
		fmt.Sprintf("Keep the Core the web UI lists for %s; remove the others as KUMA documents deleting a node (`kuma-agent raft remove-node` prints the steps).", k.Node)}}
}

// A Core's --raft.node.addr is its inventory FQDN (or raft_node_addr) on
// port 7209: the address the other Cores dial.
func ruleRaftNodeAddr(k *KUMAUnits, units []KUMAUnit) []unitFinding {
	if k.RaftAddr == "" {
		return nil
	}
	var out []unitFinding
	for _, u := range cores(units) {
		if u.Exec == nil {
			continue
		}
		v, ok := u.Exec.Value("raft.node.addr")
		switch {
		case !ok:
			out = append(out, unitFinding{Warn, fmt.Sprintf("%s has no --raft.node.addr (KUMA 4.0 Cores are started with --raft.node.addr <FQDN>:7209)", u.Unit),
				fmt.Sprintf("Reinstall the Core as KUMA documents, with --raft.node.addr %s.", k.RaftAddr)})
		case v != k.RaftAddr:
			out = append(out, unitFinding{Crit, fmt.Sprintf("%s: --raft.node.addr %s, but the inventory says %s", u.Unit, v, k.RaftAddr),
				fmt.Sprintf("The other Cores dial %s: correct the inventory (raft_node_addr, host name) or reinstall the Core with --raft.node.addr %s.", v, k.RaftAddr)})
		}
	}
	return out
}

// --raft.join names a Core of the inventory.
func ruleRaftJoin(k *KUMAUnits, units []KUMAUnit) []unitFinding {
	if len(k.Cores) == 0 {
		return nil
	}
	var out []unitFinding
	for _, u := range cores(units) {
		if u.Exec == nil {
			continue
		}
		v, ok := u.Exec.Value("raft.join")
		if !ok {
			continue
		}
		if !slices.ContainsFunc(k.Cores, func(c InventoryCore) bool { return strings.EqualFold(c.RaftAddr, v) }) {
			var known []string
			for _, c := range k.Cores {
				known = append(known, c.RaftAddr)
			}
			out = append(out, unitFinding{Crit, fmt.Sprintf("%s: --raft.join %s is no Core of the inventory (%s)", u.Unit, v, strings.Join(known, ", ")),
				"A Core joins through a Core of its cluster: fix the inventory, or remove --raft.join from the unit if this Core was restored as the first (`kuma-agent raft status`)."})
		}
	}
	return out
}

func (k *KUMAUnits) stat(p string) (fs.FileInfo, error) {
	if k.Stat != nil {
		return k.Stat(p)
	}
	return os.Stat(p)
}

func (k *KUMAUnits) workDir(id string) string {
	root := k.WorkRoot
	if root == "" {
		root = DefaultWorkRoot
	}
	return filepath.Join(root, id)
}

// The Core's working directory exists for the unit's ID.
func ruleWorkDir(k *KUMAUnits, units []KUMAUnit) []unitFinding {
	var out []unitFinding
	for _, u := range cores(units) {
		_, id, _ := kumaunit.ParseName(u.Unit)
		dir := k.workDir(id)
		fi, err := k.stat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			out = append(out, unitFinding{Crit, fmt.Sprintf("%s: working directory %s is missing (Raft data and database)", u.Unit, dir),
				"The unit has no state: if the node was deleted, remove its unit too (`kuma-agent raft remove-node`); if it should run, restore it (`kuma-agent raft restore-node`)."})
		case err != nil:
			out = append(out, unitFinding{Unknown, fmt.Sprintf("%s: working directory %s: %v", u.Unit, dir, err), ""})
		case !fi.IsDir():
			out = append(out, unitFinding{Crit, fmt.Sprintf("%s: %s is not a directory", u.Unit, dir), ""})
		}
	}
	return out
}

// A raft/.reset left behind outside a restore makes the next start rebuild
// the cluster from this node alone.
func ruleLeftoverReset(k *KUMAUnits, units []KUMAUnit) []unitFinding {
	if k.Restoring != nil && k.Restoring() {
		return nil
	}
	var out []unitFinding
	for _, u := range cores(units) {
		_, id, _ := kumaunit.ParseName(u.Unit)
		p := filepath.Join(k.workDir(id), "raft", ".reset")
		if _, err := k.stat(p); err == nil {
			out = append(out, unitFinding{Crit, fmt.Sprintf("%s: %s exists outside a restore: the next start of this Core rebuilds the cluster from this node alone", u.Unit, p),
				fmt.Sprintf("Unless you are restoring the cluster from this node, `rm %s` now.", p)})
		}
	}
	return out
}

// Every collector's, correlator's and storage's --core lists exactly the
// inventory's Cores (KUMA: when the Core nodes change, --core may need
// editing). Hosts are compared; ports are KUMA's.
func ruleCoreList(k *KUMAUnits, units []KUMAUnit) []unitFinding {
	if len(k.Cores) == 0 {
		return nil
	}
	want := map[string]bool{}
	for _, c := range k.Cores {
		want[strings.ToLower(c.Name)] = true
	}
	var out []unitFinding
	for _, u := range units {
		kind, _, ok := kumaunit.ParseName(u.Unit)
		if !ok || kind == kumaunit.KindCore || u.Exec == nil {
			continue
		}
		addrs := u.Exec.Cores()
		if len(addrs) == 0 {
			out = append(out, unitFinding{Warn, fmt.Sprintf("%s: no usable --core: it cannot fetch its configuration", u.Unit), ""})
			continue
		}
		got := map[string]bool{}
		for _, a := range addrs {
			h, _, _ := kumaunit.SplitHostPort(a)
			got[strings.ToLower(h)] = true
		}
		var missing, extra []string
		for h := range want {
			if !got[h] {
				missing = append(missing, h)
			}
		}
		for h := range got {
			if !want[h] {
				extra = append(extra, h)
			}
		}
		if len(missing)+len(extra) == 0 {
			continue
		}
		slices.Sort(missing)
		slices.Sort(extra)
		out = append(out, unitFinding{Warn, fmt.Sprintf("%s: --core lists %s; missing Cores of the inventory: [%s]; not Cores of the inventory: [%s]",
			u.Unit, strings.Join(addrs, ","), strings.Join(missing, " "), strings.Join(extra, " ")),
			"KUMA: when the Core nodes change, edit --core in the units of collectors, correlators and storages (`systemctl edit --full <unit>`), then `systemctl daemon-reload` and restart the service."})
	}
	return out
}

// The unit's name and its --id name the same service.
func ruleUnitID(_ *KUMAUnits, units []KUMAUnit) []unitFinding {
	var out []unitFinding
	for _, u := range units {
		_, id, ok := kumaunit.ParseName(u.Unit)
		if !ok || u.Exec == nil {
			continue
		}
		if v, has := u.Exec.Value("id"); has && v != id {
			out = append(out, unitFinding{Warn, fmt.Sprintf("%s runs --id %s: not the ID in its name", u.Unit, v), ""})
		}
	}
	return out
}

func ruleFlagProblems(_ *KUMAUnits, units []KUMAUnit) []unitFinding {
	var out []unitFinding
	for _, u := range units {
		if u.Exec == nil {
			continue
		}
		for _, p := range u.Exec.Problems {
			out = append(out, unitFinding{Warn, fmt.Sprintf("%s: %s", u.Unit, p), ""})
		}
	}
	return out
}
