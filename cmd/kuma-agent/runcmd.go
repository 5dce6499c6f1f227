package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/kuma-agent/kuma-agent/agent"
)

// testClockOffsetEnv shifts this agent's answers to cluster time queries.
// Network namespaces share the machine's clock, so tests that must show a
// skewed node being reported set it. Only a test build (-tags
// kumatesthooks, testhooks_on.go) reads it; a production build ignores it
// with a warning (testhooks.go).
const testClockOffsetEnv = "KUMA_AGENT_TEST_CLOCK_OFFSET"

// offsetResult is what the clock offset test hook says.
type offsetResult struct {
	offset time.Duration
	set    bool
}

func runCommand(o stdio) *command {
	var (
		sh  shared
		dev bool
	)
	return &command{
		name:  "run",
		short: "run the agent (the systemd service runs this)",
		usage: "kuma-agent run [--config FILE] [--dev]",
		help: "Runs the agent: continuous checks, the encrypted gossip mesh, the control socket\n" +
			"and the /healthz and /metrics listener. Under systemd it reports READY and pings\n" +
			"the watchdog. Stopping it does not leave the mesh (use `kuma-agent leave`).",
		flags: func(fs *flag.FlagSet) {
			sh.register(fs, "agent config file", nil, 0)
			fs.BoolVar(&dev, "dev", false, "single node for trying it out: no gossip encryption, state in a temporary directory")
		},
		exec: func(ctx context.Context, _ []string) error {
			cfg, err := sh.loadConfig()
			if err != nil {
				return err
			}
			log := newLogger(o.err, cfg.LogLevel)
			procs := maxProcsKnob(runtime.GOMAXPROCS).apply(cfg.Agent.MaxProcs, os.Getenv)
			gc := gcPercentKnob(debug.SetGCPercent, gcPercentInEffect).apply(cfg.Agent.GCPercent, os.Getenv)
			log.Info("go runtime", "gomaxprocs", procs.n, "from", procs.from, "gc_percent", gc.n, "gc_percent_from", gc.from)
			hook, err := testClockOffset(os.Getenv, log)
			if err != nil {
				return exitWith(2, err)
			}
			a, err := agent.New(ctx, agent.Options{Config: cfg, Dev: dev, Version: version, Logger: log, ClockOffset: hook.offset})
			if err != nil {
				return err
			}
			return a.Run(ctx)
		},
	}
}

// newLogger writes text records to w (journald stores stderr lines as they
// are); level comes from the config.
func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
