package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/corebackup"
	"github.com/kuma-agent/kuma-agent/internal/kumaunit"
	"github.com/kuma-agent/kuma-agent/internal/plan"
	"github.com/kuma-agent/kuma-agent/internal/raftops"
	"github.com/kuma-agent/kuma-agent/internal/raftproc"
)

// raftSubcommands: `kuma-agent raft <sub>`, in help order.
var raftSubcommands = []string{"status", "backups", "remove-node", "restore-node", "restore-cluster"}

func raftCommand(o stdio) *command {
	var sh shared
	var initial string
	var execute bool
	return &command{
		name:     "raft",
		short:    "KUMA Core Raft cluster: status, backups, and KUMA's documented recoveries as guided procedures",
		usage:    "kuma-agent raft status | backups | remove-node NODE [--execute] | restore-node NODE [--execute] | restore-cluster --initial NODE [--execute] [--config FILE] [--format table|json] [--timeout D]",
		withArgs: true,
		verbs:    raftSubcommands,
		help: `status           the inventory's Cores as the mesh and their own units see them: IDs, Raft
                 addresses, unit state, Raft readings, backups, quorum margin
backups          this node's backups of Core working directories (verified against their checksums)
remove-node      KUMA's "delete a node", checked and planned
restore-node     KUMA's "restore a node while the cluster works", checked and planned
restore-cluster  KUMA's "restore the cluster after losing the majority" from the --initial node

The procedures check their preconditions against the live cluster (who is alive, the quorum,
backups, the leader) and print the exact documented steps per node, in order, the web UI steps
marked [manual]. Without --execute they run nothing.

--execute performs the steps marked [auto] through the agents:
this node's agent takes the cluster's raft-ops lease and asks each node's own agent for its
steps, one node at a time; each agent re-checks the precondition on its own view, backs up the
Core's working directory first and refuses when that fails. The first failure stops it; the
state of every node is printed, then what is left to do by hand (the web UI, re-adding the
other Cores one at a time with --raft.join). restore-node executes only the removal of the
broken Core; expand.sh, the web UI and the install stay the operator's.
Exit status: 0 ready/done (or status/backups shown), 1 a precondition does not hold or a step
failed, 2 usage.`,
		flags: func(fs *flag.FlagSet) {
			sh.agentFlags(tableOrJSON)(fs)
			fs.StringVar(&initial, "initial", "", "restore-cluster: the node the cluster is rebuilt from")
			fs.BoolVar(&execute, "execute", false, "perform the [auto] steps through the agents")
		},
		exec: func(ctx context.Context, args []string) error {
			if len(args) == 0 {
				return usagef("want %s", orList(raftSubcommands))
			}
			sub, rest := args[0], args[1:]
			switch sub {
			case "status":
				if err := noArgs(rest); err != nil {
					return err
				}
				st, rep, err := raftStatus(ctx, &sh)
				if err != nil {
					return err
				}
				return printRaftStatus(o, sh.format, st, rep)
			case "backups":
				if err := noArgs(rest); err != nil {
					return err
				}
				cfg, err := sh.loadConfig()
				if err != nil {
					return err
				}
				return printBackups(o, sh.format, corebackup.FromConfig(cfg).Dir)
			case "remove-node", "restore-node":
				if len(rest) != 1 {
					return usagef("%s: want one NODE", sub)
				}
				return raftProcedure(ctx, o, &sh, sub, rest[0], execute)
			case "restore-cluster":
				if err := noArgs(rest); err != nil {
					return err
				}
				if initial == "" {
					return usagef("restore-cluster: --initial NODE names the node the cluster is rebuilt from")
				}
				return raftProcedure(ctx, o, &sh, sub, initial, execute)
			}
			return usagef("unknown subcommand %q (want %s)", sub, orList(raftSubcommands))
		},
	}
}

// raftStatus asks the agent for the cluster (doctor --cluster's queries:
// each node's Core units come with its answer) and puts it beside the
// inventory's Cores.
func raftStatus(ctx context.Context, sh *shared) (raftproc.Status, control.ClusterReport, error) {
	cfg, err := sh.loadConfig()
	if err != nil {
		return raftproc.Status{}, control.ClusterReport{}, err
	}
	inv, err := plan.LoadCluster(cfg.Inventory)
	if err != nil {
		return raftproc.Status{}, control.ClusterReport{}, exitWith(2, fmt.Errorf("inventory: %w", err))
	}
	if inv == nil || !inv.Layout.RaftCore() {
		return raftproc.Status{}, control.ClusterReport{}, exitWith(2, fmt.Errorf("inventory %q describes no KUMA Core Raft cluster", cfg.Inventory))
	}
	// Fresh: a procedure's preconditions are judged on what the agents say
	// now, with every node's Core facts (the stored evaluation a node that
	// is not the evaluator answers carries only the cluster-wide findings).
	var rep control.ClusterReport
	if err := sh.call(ctx, control.OpClusterDoctor, control.ClusterDoctorArgs{Fresh: true}, &rep); err != nil {
		return raftproc.Status{}, rep, err
	}
	return buildRaftStatus(cfg, inv, rep), rep, nil
}

// buildRaftStatus joins the inventory's Cores with what their agents said.
func buildRaftStatus(cfg config.Config, inv *cluster.Cluster, rep control.ClusterReport) raftproc.Status {
	st := raftproc.Status{CoreDir: cfg.Supervisor.CoreDir, Services: map[string][]string{}}
	alive, meshAlive := map[string]bool{}, map[string]bool{}
	for _, m := range rep.Members {
		alive[m.Name] = m.Status == "alive" && m.Ignored == ""
		meshAlive[m.Name] = m.Status == "alive"
	}
	facts := map[string][]clusterchecks.CoreFacts{}
	answered := map[string]bool{}
	for _, n := range rep.Nodes {
		facts[n.Host] = n.Cores
		answered[n.Host] = true
	}
	for _, h := range inv.RaftMembers() {
		// Alive is the mesh's word, the inventory's vouching and an answer:
		// a member of the name alive without the other two is Silent, its
		// Core neither running nor stopped.
		ok := alive[h.Name] && answered[h.Name]
		c := raftproc.Core{Node: h.Name, RaftAddr: h.RaftAddr(cfg.Supervisor.Rejoin.RaftPort),
			AgentAlive: ok, Silent: meshAlive[h.Name] && !ok}
		if fs := facts[h.Name]; len(fs) > 0 {
			f := fs[0]
			c.Unit, c.ID, c.Active, c.Raft, c.Backup = f.Unit, f.ID, f.Active, f.Raft, f.Backup
			if len(f.Argv) > 0 {
				if e, err := kumaunit.Parse(f.Argv); err == nil {
					c.Exec = &e
				}
			}
		}
		st.Cores = append(st.Cores, c)
	}
	// The services whose --core lists the Cores: every node's kuma-units
	// finding names them; the reminder lists the nodes running any.
	for _, n := range rep.Nodes {
		for _, f := range n.Findings {
			if f.Check != "kuma-units" {
				continue
			}
			for _, d := range f.Details {
				unit, _, ok := strings.Cut(d, ": listeners")
				if kind, _, isKUMA := kumaunit.ParseName(unit); ok && isKUMA && kind != kumaunit.KindCore {
					st.Services[n.Host] = append(st.Services[n.Host], unit)
				}
			}
		}
	}
	return st
}

func printRaftStatus(o stdio, format string, st raftproc.Status, rep control.ClusterReport) error {
	n := len(st.Cores)
	alive, _ := st.Alive("")
	silent := len(st.Silent())
	q := cluster.QuorumOf(n, alive)
	if format == "json" {
		return writeJSON(o.out, struct {
			Cores  []raftproc.Core `json:"cores"`
			Quorum cluster.Quorum  `json:"quorum"`
			// Silent Cores are unknown: a quorum counted without them
			// may still be there.
			Silent int `json:"silent"`
		}{st.Cores, q, silent})
	}
	tw := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tAGENT\tUNIT\tACTIVE\tRAFT-ADDR (unit)\tRAFT-JOIN\tRAFT\tBACKUP")
	for _, c := range st.Cores {
		agent := "down"
		switch {
		case c.AgentAlive:
			agent = "alive"
		case c.Silent:
			agent = "silent" // alive in the mesh, no answer
		}
		addr, join := "-", "-"
		if c.Exec != nil {
			if v, ok := c.Exec.Value("raft.node.addr"); ok {
				addr = v
			}
			if v, ok := c.Exec.Value("raft.join"); ok {
				join = v
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\t%s\t%s\n", esc(c.Node), agent, esc(dash(c.Unit)), c.Active, esc(addr), esc(join),
			esc(dash(c.Raft)), esc(dash(c.Backup)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	switch {
	case q.HasQuorum:
		fmt.Fprintf(o.out, "Raft Cores alive %d of %d, quorum %d: margin %d (that many more may fail)\n", alive, n, q.Needed, q.Margin)
	case silent > 0:
		fmt.Fprintf(o.out, "Raft Cores alive %d of %d, quorum %d: UNKNOWN, %d silent (alive in the mesh, no answer taken: see `kuma-agent doctor --cluster` and run again)\n", alive, n, q.Needed, silent)
	default:
		fmt.Fprintf(o.out, "Raft Cores alive %d of %d, quorum %d: MAJORITY LOST (see `kuma-agent raft restore-cluster -h`)\n", alive, n, q.Needed)
	}
	for _, r := range rep.Cluster {
		if r.Name == "cluster-raft" || r.Name == "cluster-quorum" {
			fmt.Fprintf(o.out, "%s: %s: %s\n", r.Name, r.Result.Status, line(r.Result.Message))
		}
	}
	return nil
}

func printBackups(o stdio, format, dir string) error {
	bs, err := corebackup.List(dir)
	if err != nil {
		return fmt.Errorf("backups in %s: %w", dir, err)
	}
	if format == "json" {
		if bs == nil {
			bs = []corebackup.Backup{}
		}
		return writeJSON(o.out, bs)
	}
	if len(bs) == 0 {
		fmt.Fprintf(o.out, "no Core backup in %s\n", dir)
		return nil
	}
	tw := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CORE ID\tTAKEN (UTC)\tBYTES\tCHECKSUM\tFILE")
	for _, b := range bs {
		sum := "ok " + b.SHA256[:min(16, len(b.SHA256))]
		if !b.Verified {
			sum = "BAD: " + b.Problem
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", esc(b.ID), b.Time.Format("2006-01-02 15:04:05"), b.Size, line(sum), esc(b.Path))
	}
	return tw.Flush()
}

func raftProcedure(ctx context.Context, o stdio, sh *shared, proc, node string, execute bool) error {
	st, _, err := raftStatus(ctx, sh)
	if err != nil {
		return err
	}
	p, err := raftproc.New(proc, node, st)
	if err != nil {
		return usageError{err}
	}
	if !execute || sh.format != "json" { // with --execute, json is the report
		if sh.format == "json" {
			if err := writeJSON(o.out, p); err != nil {
				return err
			}
		} else {
			printPlan(o, p)
		}
	}
	if !p.Ready() {
		return exitWith(1, nil)
	}
	if !execute {
		return nil
	}
	if !slices.ContainsFunc(p.Steps, func(s raftproc.Step) bool { return s.Auto }) {
		// restore-node of a node without a Core unit: nothing on a host to do.
		fmt.Fprintln(o.out, "\nNothing to execute: no step is [auto] (no Core unit on "+esc(p.Target)+"); follow the steps above.")
		return nil
	}
	return raftExecute(ctx, o, sh, p, st)
}

// raftExecute asks the local agent to perform p's [auto] steps, then
// prints what happened, the state of every node and what is left by hand.
func raftExecute(ctx context.Context, o stdio, sh *shared, p raftproc.Plan, st raftproc.Status) error {
	args := control.RaftExecuteArgs{Procedure: p.Procedure, Target: p.Target}
	for _, c := range st.Cores {
		args.Cores = append(args.Cores, raftops.Core{Node: c.Node, ID: c.ID, AgentAlive: c.AgentAlive})
	}
	cfg, err := sh.loadConfig()
	if err != nil {
		return err
	}
	if sh.format != "json" {
		fmt.Fprintln(o.out, "\nExecuting the [auto] steps through the agents (the [manual] steps before them must be done already)...")
	}
	// The operation waits for units on every node: at least as long as the
	// agent allows it, whatever --timeout says for the status queries.
	var rep raftops.Report
	if err := callAgent(ctx, cfg.Agent.ControlSocket, max(sh.timeout, raftExecuteWait), control.OpRaftExecute, args, &rep); err != nil {
		return err
	}
	after, _, serr := raftStatus(ctx, sh)
	if sh.format == "json" {
		if err := writeJSON(o.out, rep); err != nil {
			return err
		}
	} else {
		printReport(o, rep)
		if serr != nil {
			fmt.Fprintf(o.err, "the state of the nodes after it could not be read: %v\n", serr)
		} else {
			// A unit systemd unloaded may still be listed until its agent's
			// supervisor re-reads it (its next resync, 30 s).
			fmt.Fprintln(o.out, "\nThe nodes now (as their agents report them; a removed unit may show for up to 30 s):")
			_ = printRaftStatus(o, "table", after, control.ClusterReport{})
		}
		if rep.OK {
			printLeft(o, p)
		}
	}
	if !rep.OK {
		return exitWith(1, nil)
	}
	return nil
}

// raftExecuteWait is how long the CLI waits for an executed recovery.
const raftExecuteWait = 30 * time.Minute

func printReport(o stdio, rep raftops.Report) {
	fmt.Fprintf(o.out, "\nOperation %s (%s %s):\n", esc(rep.Operation), rep.Procedure, esc(rep.Target))
	for i, s := range rep.Steps {
		fmt.Fprintf(o.out, "  %2d. %-8s %s %s: %s\n", i+1, s.Status, esc(s.Node), esc(s.Step), line(dash(s.Detail)))
	}
	if rep.OK {
		fmt.Fprintln(o.out, "Every step done.")
	} else {
		fmt.Fprintln(o.out, "STOPPED at the first failure: nothing after it ran (see the state of every node below).")
	}
}

// printLeft lists the steps --execute does not perform, in order.
func printLeft(o stdio, p raftproc.Plan) {
	fmt.Fprintln(o.out, "\nLeft to do by hand, in this order:")
	n := 0
	for _, s := range p.Steps {
		if s.Auto {
			continue
		}
		n++
		m := ""
		if s.Manual {
			m = "[manual] "
		}
		fmt.Fprintf(o.out, "  %2d. %s  %s%s\n", n, esc(s.Node), m, line(s.Text))
		if s.Command != "" {
			fmt.Fprintf(o.out, "      $ %s\n", line(s.Command))
		}
	}
}

func printPlan(o stdio, p raftproc.Plan) {
	fmt.Fprintf(o.out, "%s %s\n\nPreconditions:\n", p.Procedure, esc(p.Target))
	for _, c := range p.Preconditions {
		mark := "ok  "
		switch {
		case !c.OK && c.Note:
			mark = "note "
		case !c.OK:
			mark = "NO  "
		}
		fmt.Fprintf(o.out, "  %s%s\n", mark, line(c.Text))
	}
	fmt.Fprintln(o.out, "\nSteps (one node at a time, in this order):")
	width := 0
	for _, s := range p.Steps {
		width = max(width, len(s.Node))
	}
	for i, s := range p.Steps {
		m := ""
		if s.Manual {
			m = "[manual] "
		}
		if s.Auto {
			m += "[auto] "
		}
		fmt.Fprintf(o.out, "  %2d. %-*s  %s%s\n", i+1, width, esc(s.Node), m, line(s.Text))
		if s.Command != "" {
			fmt.Fprintf(o.out, "      %*s  $ %s\n", width, "", line(s.Command))
		}
	}
	if !p.Ready() {
		fmt.Fprintln(o.out, "\nNot ready: a precondition above does not hold.")
	}
}
