// Package raftproc turns KUMA 4.0's documented Core recoveries into guided
// procedures: for a picture of the cluster (Status: the inventory's Cores,
// what their agents and units say), each procedure first checks its
// preconditions, then lists the exact steps per node, in order, the web
// UI steps marked as manual. The steps are data (a table per procedure);
// this package decides nothing on its own and runs nothing.
//
// Sources (KUMA 4.0 online help, see README "KUMA facts"): deleting a
// node, restoring a node while the cluster works, restoring the cluster
// after the majority is lost; the --core note for collectors,
// correlators and storages.
package raftproc

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/kumaunit"
)

// Core is one inventory Core as the cluster shows it.
type Core struct {
	Node     string // inventory name (FQDN)
	RaftAddr string // inventory raft_node_addr, else Node:7209
	// AgentAlive: its agent answered (the mesh says alive).
	AgentAlive bool
	// Silent: the mesh says a member of its name is alive but no answer
	// was taken from it (none came, or the inventory does not vouch for
	// that member): its Core's state is unknown, neither running nor
	// stopped.
	Silent bool
	// Unit, ID, Active, Exec: its Core unit as its agent read it; Unit ""
	// when none was reported.
	Unit   string
	ID     string
	Active bool
	Exec   *kumaunit.Exec
	Raft   string // leader, follower, out, "" unknown
	// Backup is the newest backup of its working directory, "" none.
	Backup string
}

// Status is the picture a procedure is planned from.
type Status struct {
	Cores   []Core
	CoreDir string // /opt/kaspersky/kuma/core
	// Services lists the collectors, correlators and storages whose --core
	// names Cores (node -> units), for the --core reminder.
	Services map[string][]string
}

// Precondition is one thing checked before a procedure.
type Precondition struct {
	OK   bool   `json:"ok"`
	Text string `json:"text"`
	// Note: advice that does not block the procedure (Ready ignores it):
	// an even count of Cores after a removal is allowed on the way to
	// removing (or adding) one more.
	Note bool `json:"note,omitempty"`
}

// Step is one step on one node (or in the web UI: Manual).
type Step struct {
	Node    string `json:"node"` // "web UI" for manual UI steps
	Manual  bool   `json:"manual,omitempty"`
	Text    string `json:"text"`
	Command string `json:"command,omitempty"` // the exact shell line, when there is one
	// Auto: `--execute` performs it through the agents (remove-node,
	// restore-cluster); the other steps stay the operator's.
	Auto bool `json:"auto,omitempty"`
}

// Plan is a procedure planned for a cluster.
type Plan struct {
	Procedure     string         `json:"procedure"`
	Target        string         `json:"target"`
	Preconditions []Precondition `json:"preconditions"`
	Steps         []Step         `json:"steps"`
}

// Ready reports whether every precondition holds.
func (p Plan) Ready() bool {
	for _, c := range p.Preconditions {
		if !c.OK && !c.Note {
			return false
		}
	}
	return true
}

// Procedures names the procedures, in help order.
var Procedures = []string{"remove-node", "restore-node", "restore-cluster"}

// New plans procedure proc for target.
func New(proc, target string, st Status) (Plan, error) {
	p := Plan{Procedure: proc, Target: target}
	self := st.core(target)
	if self == nil {
		var names []string
		for _, c := range st.Cores {
			names = append(names, c.Node)
		}
		return p, fmt.Errorf("%s is no Core of the inventory (Cores: %s)", target, strings.Join(names, ", "))
	}
	// A live agent that did not answer leaves its Core unknown: counted
	// as down it could make a quorum look lost (restore-cluster) or a
	// node look free of a Core (no step for it).
	if silent := st.Silent(); len(silent) > 0 {
		pre(&p, false, "every live agent answered: no answer from %s (its Core's state is unknown: see `kuma-agent doctor --cluster` and that node's agent log, then run again; an agent that hangs: stop it, and the mesh marks it failed)", strings.Join(silent, ", "))
	}
	switch proc {
	case "remove-node":
		removeNode(&p, st, self)
	case "restore-node":
		restoreNode(&p, st, self)
	case "restore-cluster":
		restoreCluster(&p, st, self)
	default:
		return p, fmt.Errorf("unknown procedure %q (want %s)", proc, strings.Join(Procedures, ", "))
	}
	return p, nil
}

func (st Status) core(node string) *Core {
	for i := range st.Cores {
		if st.Cores[i].Node == node {
			return &st.Cores[i]
		}
	}
	return nil
}

// Alive counts Cores with a running unit and a live agent, except skip.
func (st Status) Alive(skip string) (n int, names []string) {
	for _, c := range st.Cores {
		if c.Node != skip && c.AgentAlive && c.Active {
			n++
			names = append(names, c.Node)
		}
	}
	return n, names
}

// Silent names the Cores whose state is unknown (Core.Silent).
func (st Status) Silent() []string {
	var out []string
	for _, c := range st.Cores {
		if c.Silent {
			out = append(out, c.Node)
		}
	}
	return out
}

func (st Status) leader() *Core {
	var l *Core
	for i := range st.Cores {
		if st.Cores[i].Raft == "leader" {
			if l != nil {
				return nil // two claim: no answer
			}
			l = &st.Cores[i]
		}
	}
	return l
}

func (st Status) workDir(c *Core) string { return st.CoreDir + "/" + idOr(c) }

func idOr(c *Core) string {
	if c.ID != "" {
		return c.ID
	}
	return "<ID>"
}

func unitOr(c *Core) string {
	if c.Unit != "" {
		return c.Unit
	}
	return "kuma-core-<ID>.service"
}

func pre(p *Plan, ok bool, format string, a ...any) {
	p.Preconditions = append(p.Preconditions, Precondition{OK: ok, Text: fmt.Sprintf(format, a...)})
}

func step(p *Plan, node, text, cmd string) {
	p.Steps = append(p.Steps, Step{Node: node, Text: text, Command: cmd})
}

// auto is a step --execute performs (internal/raftops' table).
func auto(p *Plan, node, text, cmd string) {
	p.Steps = append(p.Steps, Step{Node: node, Text: text, Command: cmd, Auto: true})
}

func manual(p *Plan, text string) {
	p.Steps = append(p.Steps, Step{Node: "web UI", Manual: true, Text: text})
}

// backupStep: before anything removes or resets a working directory.
func backupStep(p *Plan, st Status, c *Core) {
	auto(p, c.Node, "Back up the Core's working directory (Raft data and database) into the agent's state directory; refused if it fails or the disk would fall below the disk check's threshold",
		fmt.Sprintf("tar -C %s -czf /var/lib/kuma-agent/core-backups/%s-manual.tar.gz %s && sha256sum /var/lib/kuma-agent/core-backups/%s-manual.tar.gz", st.CoreDir, idOr(c), idOr(c), idOr(c)))
}

// deleteSteps: KUMA's "delete a node": stop, remove the working directory
// and the unit.
func deleteSteps(p *Plan, st Status, c *Core) {
	auto(p, c.Node, "Stop the Core", "systemctl stop "+unitOr(c))
	auto(p, c.Node, "Remove its working directory", "rm -rf "+st.workDir(c))
	auto(p, c.Node, "Remove its unit", fmt.Sprintf("rm -f /etc/systemd/system/%s /usr/lib/systemd/system/%s && systemctl daemon-reload", unitOr(c), unitOr(c)))
}

// coreListSteps: KUMA: when the Core nodes change, --core in the units of
// collectors, correlators and storages may need editing.
func coreListSteps(p *Plan, st Status) {
	nodes := make([]string, 0, len(st.Services))
	for n := range st.Services {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	for _, n := range nodes {
		for _, u := range st.Services[n] {
			step(p, n, "The Core nodes changed: make --core of "+u+" list exactly the Cores of the inventory (kuma-units check), then restart it",
				"systemctl edit --full "+u+" && systemctl daemon-reload && systemctl restart "+u)
		}
	}
}

func removeNode(p *Plan, st Status, c *Core) {
	n := len(st.Cores)
	alive, names := st.Alive(c.Node)
	after := n - 1
	pre(p, alive >= need(after), "the other Cores keep a majority of the %d that remain: %d alive (%s), quorum %d", after, alive, strings.Join(names, ", "), need(after))
	pre(p, after%2 == 1, "KUMA allows only an odd number of Cores: %d remain after the removal (remove or add one more after this one)", after)
	p.Preconditions[len(p.Preconditions)-1].Note = true // the way from 5 to 3 Cores passes 4
	pre(p, c.Backup != "" || c.AgentAlive, "a backup of %s's working directory exists or its agent can take one (newest: %s)", c.Node, orNone(c.Backup))
	manual(p, fmt.Sprintf("Remove the Core service of %s (ID %s) from the cluster in the KUMA web UI", c.Node, idOr(c)))
	backupStep(p, st, c)
	deleteSteps(p, st, c)
	step(p, c.Node, "Remove the host from kuma_core_peers in the inventory (distributed.inventory.yml / expand.inventory.yml) and from the agent's inventory", "")
	coreListSteps(p, st)
}

func restoreNode(p *Plan, st Status, c *Core) {
	n := len(st.Cores)
	alive, names := st.Alive(c.Node)
	pre(p, alive >= need(n), "the cluster works without %s: %d of %d Cores alive (%s), quorum %d", c.Node, alive, n, strings.Join(names, ", "), need(n))
	l := st.leader()
	join := "<FQDN of a working Core>:7209"
	if l != nil && l.Node != c.Node {
		join = l.RaftAddr
	}
	pre(p, l != nil && l.Node != c.Node, "a leader other than %s is known (Raft state read on the Cores: supervisor.rejoin signals): %s", c.Node, leaderName(l))
	manual(p, fmt.Sprintf("Remove the broken Core service of %s (ID %s) from the cluster in the KUMA web UI", c.Node, idOr(c)))
	if c.Unit != "" {
		backupStep(p, st, c)
		deleteSteps(p, st, c)
	}
	step(p, "installer host", "Prepare the host: with "+c.Node+" in kuma_core_peers, run expand.sh", "./expand.sh expand.inventory.yml")
	manual(p, "Create a Core service for "+c.Node+" in the KUMA web UI and copy its service ID")
	step(p, c.Node, "Install the Core, joining the cluster (it receives a full copy of the leader's state)",
		fmt.Sprintf("sudo /opt/kaspersky/kuma/kuma core --raft.join %s --id <new ID from the web UI> --install", join))
}

func restoreCluster(p *Plan, st Status, seed *Core) {
	n := len(st.Cores)
	alive, names := st.Alive("")
	pre(p, alive < need(n), "the majority is lost: %d of %d Cores alive (%s), quorum %d (with a majority, use restore-node for each broken Core)", alive, n, strings.Join(names, ", "), need(n))
	pre(p, seed.AgentAlive && seed.Unit != "", "%s, the chosen node, runs an agent and has a Core unit (%s)", seed.Node, orNone(seed.Unit))
	pre(p, seed.Exec != nil, "%s's unit command line is known (to remove --raft.join from it)", seed.Node)
	for i := range st.Cores {
		c := &st.Cores[i]
		if c.Unit != "" {
			backupStep(p, st, c)
		}
	}
	for i := range st.Cores {
		c := &st.Cores[i]
		if c.Unit != "" {
			auto(p, c.Node, "Stop the Core", "systemctl stop "+unitOr(c))
		}
	}
	for i := range st.Cores {
		c := &st.Cores[i]
		if c.Node == seed.Node || c.Unit == "" {
			continue
		}
		auto(p, c.Node, "Remove its working directory", "rm -rf "+st.workDir(c))
		auto(p, c.Node, "Remove its unit", fmt.Sprintf("rm -f /etc/systemd/system/%s /usr/lib/systemd/system/%s && systemctl daemon-reload", unitOr(c), unitOr(c)))
	}
	auto(p, seed.Node, "Mark the Raft state for a reset: the next start makes a one-node cluster", "touch "+st.workDir(seed)+"/raft/.reset")
	newExec := "ExecStart=<the unit's command line without --raft.join>"
	if seed.Exec != nil {
		newExec = "ExecStart=" + strings.Join(seed.Exec.WithoutFlag("raft.join"), " ")
	}
	auto(p, seed.Node, "Remove --raft.join from its unit: "+newExec, "systemctl edit --full "+unitOr(seed))
	auto(p, seed.Node, "Reload systemd and start the Core: a one-node cluster", "systemctl daemon-reload && systemctl start "+unitOr(seed))
	for i := range st.Cores {
		c := &st.Cores[i]
		if c.Node == seed.Node {
			continue
		}
		manual(p, "Create a Core service for "+c.Node+" in the KUMA web UI and copy its service ID (one node at a time)")
		step(p, c.Node, "Install the Core, joining the restored cluster",
			fmt.Sprintf("sudo /opt/kaspersky/kuma/kuma core --raft.join %s --id <new ID from the web UI> --install", seed.RaftAddr))
	}
	coreListSteps(p, st)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func leaderName(c *Core) string {
	if c == nil {
		return "none (or more than one)"
	}
	return c.Node
}

// need is the quorum of n voters (cluster.QuorumOf).
func need(n int) int { return cluster.QuorumOf(n, n).Needed }
