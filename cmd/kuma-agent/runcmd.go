package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/kuma-agent/kuma-agent/agent"
	"github.com/kuma-agent/kuma-agent/internal/config"
)

// testClockOffsetEnv shifts this agent's answers to cluster time queries.
// Network namespaces share the machine's clock, so tests that must show a
// skewed node being reported set it; nothing else reads it.
const testClockOffsetEnv = "KUMA_AGENT_TEST_CLOCK_OFFSET"

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("run", flag.ContinueOnError)
	fset.SetOutput(stderr)
	cfgPath := fset.String("config", config.DefaultPath, "agent config file")
	dev := fset.Bool("dev", false, "single node for trying it out: no gossip encryption, state in a temporary directory")
	fset.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kuma-agent run [--config FILE] [--dev]\n\nRuns the agent: continuous checks, the encrypted gossip mesh, the control socket\nand the /healthz and /metrics listener. Under systemd it reports READY and pings\nthe watchdog. Stopping it does not leave the mesh (use `kuma-agent leave`).\n\nFlags:")
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil || fset.NArg() > 0 {
		return 2
	}
	cfg, err := loadConfig(*cfgPath, flagSet(fset, "config"))
	if err != nil {
		fmt.Fprintf(stderr, "kuma-agent: %v\n", err)
		return 2
	}
	log := newLogger(stderr, cfg.LogLevel)
	var offset time.Duration
	if v := os.Getenv(testClockOffsetEnv); v != "" {
		if offset, err = time.ParseDuration(v); err != nil {
			fmt.Fprintf(stderr, "kuma-agent: %s: %v\n", testClockOffsetEnv, err)
			return 2
		}
		log.Warn("test hook: answering time queries with a shifted clock", "offset", offset)
	}
	a, err := agent.New(ctx, agent.Options{Config: cfg, Dev: *dev, Version: version, Logger: log, ClockOffset: offset})
	if err != nil {
		fmt.Fprintf(stderr, "kuma-agent: %v\n", err)
		return 1
	}
	if err := a.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "kuma-agent: %v\n", err)
		return 1
	}
	return 0
}

// newLogger writes text records to w (journald stores stderr lines as they
// are); level comes from the config.
func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
