package main

import (
	"context"
	"flag"
	"io/fs"
	"os"
	"strings"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/doctor"
	"github.com/kuma-agent/kuma-agent/internal/plan"
)

var doctorFormats = []string{string(doctor.FormatTable), string(doctor.FormatJSON), string(doctor.FormatNagios)}

func doctorCommand(o stdio) *command {
	var (
		sh          shared
		fset        *flag.FlagSet
		invPath     string
		node        string
		clusterWide bool
		fresh       bool
		only, skip  listFlag
	)
	return &command{
		name:  "doctor",
		short: "diagnose this node (--cluster: every node), each finding with its fix",
		usage: "kuma-agent doctor [flags]",
		help: "Runs every check that applies to this node once and prints each finding with its fix.\n" +
			"With --cluster, shows the running agents' latest cluster evaluation (every node's findings and the\n" +
			"cluster-wide checks, with its age and the node that evaluated it); --fresh evaluates now.\n" +
			"Exit status: 0 ok, 1 warning or unknown, 2 critical or no verdict (nagios format: 0/1/2/3).\n" +
			"Checks: " + strings.Join(plan.BuiltinChecks, ", ") + ", plugin:<file>.",
		flags: func(f *flag.FlagSet) {
			fset = f
			sh.register(f, "agent config file", doctorFormats, defaultTimeout)
			f.StringVar(&invPath, "inventory", "", "the cluster's inventory (default: inventory: in the config)")
			f.BoolVar(&clusterWide, "cluster", false, "every node's findings and the cluster-wide checks, through the running agent (--timeout applies)")
			f.BoolVar(&fresh, "fresh", false, "with --cluster: gather and judge now instead of showing the latest continuous evaluation")
			f.StringVar(&node, "node", "", "this node's inventory name (default: node_name in the config, else the output of hostname -f)")
			f.Var(&only, "only", "run only these `checks` (comma-separated; repeatable)")
			f.Var(&skip, "skip", "skip these `checks` (comma-separated; repeatable)")
		},
		exec: func(ctx context.Context, _ []string) error {
			format := doctor.Format(sh.format)
			sel := plan.Selection{Only: only, Skip: skip}
			if err := sel.Validate(); err != nil {
				return usageError{err}
			}
			switch {
			case clusterWide && (len(only)+len(skip) > 0 || invPath != "" || node != ""):
				return usagef("--cluster reports what the agents run; --only, --skip, --inventory and --node do not apply")
			case !clusterWide && fresh:
				return usagef("--fresh applies to --cluster only")
			case !clusterWide && flagSet(fset, "timeout"):
				return usagef("--timeout applies to --cluster only (checks have checks.timeout in the config)")
			}
			cfg, err := sh.loadConfig()
			if err != nil {
				return err
			}
			color := false
			if fl, ok := o.out.(*os.File); ok {
				color = isTerminal(fl)
			}
			if clusterWide {
				rep, err := fetchClusterReport(ctx, cfg.Agent.ControlSocket, sh.timeout, fresh)
				if err != nil {
					return exitWith(2, err)
				}
				code, err := writeClusterReport(o.out, rep, format, color)
				return exitWith(code, err)
			}
			if node != "" {
				cfg.NodeName = node
			}
			path := cfg.Inventory
			if invPath != "" {
				path = invPath
			}
			c, loadErr := plan.LoadCluster(path)
			if loadErr == nil && c == nil && invPath != "" {
				return usagef("--inventory %s: no such file", invPath)
			}
			cmd := checks.ExecCommander{}
			n, err := plan.ResolveNode(ctx, cfg, c, cmd)
			if err != nil {
				return exitWith(2, err)
			}
			p := plan.Build(cfg, path, c, loadErr, n, sel, cmd)
			rep := doctor.Run(ctx, p, checks.Runner{Timeout: cfg.Checks.Timeout, Concurrency: cfg.Checks.Concurrency})
			if err := rep.Write(o.out, format, color); err != nil {
				return exitWith(2, err)
			}
			return exitWith(rep.ExitCode(format), nil)
		},
	}
}

// isTerminal reports whether f is a character device (a TTY), so colors
// never end up in pipes and log files.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&fs.ModeCharDevice != 0 && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
}
