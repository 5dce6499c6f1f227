package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/doctor"
	"github.com/kuma-agent/kuma-agent/internal/plan"
)

// listFlag accepts a comma-separated list and may be repeated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fset.SetOutput(stderr)
	cfgPath := fset.String("config", config.DefaultPath, "agent config file")
	invPath := fset.String("inventory", "", "the cluster's inventory (default: inventory: in the config)")
	format := fset.String("format", "table", "output: table, json or nagios")
	clusterWide := fset.Bool("cluster", false, "every node's findings and the cluster-wide checks, through the running agent")
	node := fset.String("node", "", "this node's inventory name (default: node_name in the config, else `hostname -f`)")
	var only, skip listFlag
	fset.Var(&only, "only", "run only these checks (comma-separated; repeatable)")
	fset.Var(&skip, "skip", "skip these checks (comma-separated; repeatable)")
	fset.Usage = func() {
		fmt.Fprintf(stderr, "Usage: kuma-agent doctor [flags]\n\nRuns every check that applies to this node once and prints each finding with its fix.\nExit status: 0 ok, 1 warning or unknown, 2 critical (nagios format: 0/1/2/3).\nChecks: %s, plugin:<file>.\n\nFlags:\n", strings.Join(plan.BuiltinChecks, ", "))
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		return 2
	}
	if fset.NArg() > 0 {
		fmt.Fprintf(stderr, "kuma-agent doctor: unexpected argument %q\n", fset.Arg(0))
		return 2
	}
	f, err := doctor.ParseFormat(*format)
	if err != nil {
		fmt.Fprintf(stderr, "kuma-agent doctor: --format: %v\n", err)
		return 2
	}
	sel := plan.Selection{Only: only, Skip: skip}
	if err := sel.Validate(); err != nil {
		fmt.Fprintf(stderr, "kuma-agent doctor: %v\n", err)
		return 2
	}
	cfg, err := loadConfig(*cfgPath, flagSet(fset, "config"))
	if err != nil {
		fmt.Fprintf(stderr, "kuma-agent: %v\n", err)
		return 2
	}
	color := false
	if fl, ok := stdout.(*os.File); ok {
		color = isTerminal(fl)
	}
	if *clusterWide {
		if len(only)+len(skip) > 0 || *invPath != "" || *node != "" {
			fmt.Fprintln(stderr, "kuma-agent doctor: --cluster reports what the agents run; --only, --skip, --inventory and --node do not apply")
			return 2
		}
		return runClusterDoctor(ctx, cfg.Agent.ControlSocket, f, color, stdout, stderr)
	}
	if *node != "" {
		cfg.NodeName = *node
	}
	path := cfg.Inventory
	if *invPath != "" {
		path = *invPath
	}
	c, loadErr := plan.LoadCluster(path)
	if loadErr == nil && c == nil && *invPath != "" {
		fmt.Fprintf(stderr, "kuma-agent doctor: --inventory %s: no such file\n", *invPath)
		return 2
	}
	cmd := checks.ExecCommander{}
	n, err := plan.ResolveNode(ctx, cfg, c, cmd)
	if err != nil {
		fmt.Fprintf(stderr, "kuma-agent doctor: %v\n", err)
		return 2
	}
	plan := plan.Build(cfg, path, c, loadErr, n, sel, cmd)
	rep := doctor.Run(ctx, plan, checks.Runner{Timeout: cfg.Checks.Timeout, Concurrency: cfg.Checks.Concurrency})
	if err := rep.Write(stdout, f, color); err != nil {
		fmt.Fprintf(stderr, "kuma-agent doctor: %v\n", err)
		return 2
	}
	return rep.ExitCode(f)
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
