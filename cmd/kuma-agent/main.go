// Command kuma-agent is the node agent for KUMA SIEM high-availability
// clusters: preflight and continuous checks, and `doctor`.
//
// Subcommands are dispatched with the standard library's flag package: the
// CLI is small, and one dependency fewer keeps the binary and its audit small.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set by the linker: -ldflags "-X main.version=$(git describe)".
var version = "dev"

type command struct {
	name  string
	usage string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"run", "run the agent (the systemd service runs this)", runRun},
		{"doctor", "diagnose this node (--cluster: every node), each finding with its fix", runDoctor},
		{"members", "list the agents of the mesh", runMembers},
		{"units", "the units this agent supervises and what it did about them", runUnits},
		{"events", "read the cluster's events (--follow to tail them)", runEvents},
		{"alerts", "the alerts subscriber: rules and actions on events (its own service)", runAlerts},
		{"inventory", "check a KUMA inventory or Acura ha_env_file before installing", runInventory},
		{"config", "validate an agent.yaml and print what it resolves to", runConfig},
		{"keygen", "print a new gossip keyring file", runKeygen},
		{"keyring", "list, install, use or remove gossip keys on every node", runKeyring},
		{"leave", "leave the mesh for good (a restart is not a leave)", runLeave},
		{"version", "print the version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "kuma-agent: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: kuma-agent <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.usage)
	}
	fmt.Fprintln(w, "\nRun `kuma-agent <command> -h` for a command's flags.")
}

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) int {
	fmt.Fprintf(stdout, "kuma-agent %s\n", version)
	return 0
}
