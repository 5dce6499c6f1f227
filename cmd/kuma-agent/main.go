// Command kuma-agent is the node agent for KUMA SIEM high-availability
// clusters: preflight and continuous checks, and `doctor`.
//
// Subcommands are dispatched with the standard library's flag package and a
// small command helper (cli.go): the CLI is small, and one dependency fewer
// keeps the binary and its audit small. One file per subcommand.
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

func commands(o stdio) []*command {
	return []*command{
		runCommand(o),
		doctorCommand(o),
		membersCommand(o),
		unitsCommand(o),
		raftCommand(o),
		eventsCommand(o),
		alertsCommand(o),
		inventoryCommand(o),
		configCommand(o),
		keygenCommand(o),
		keyringCommand(o),
		leaveCommand(o),
		versionCommand(o),
		completionCommand(o),
		manCommand(o),
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal cancels ctx and the command winds down; from then on
	// a second one has its default effect and ends the process at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o := stdio{in: os.Stdin, out: stdout, err: stderr}
	cmds := commands(o)
	if len(args) == 0 {
		usage(stderr, cmds)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) == 1 {
			usage(stdout, cmds)
			return 0
		}
		name, args = args[1], []string{name, "-h"} // `help doctor` is `doctor -h`
	}
	for _, c := range cmds {
		if c.name == name {
			return c.run(ctx, args[1:], o)
		}
	}
	fmt.Fprintf(stderr, "kuma-agent: unknown command %q\n\n", name)
	usage(stderr, cmds)
	return 2
}

func usage(w io.Writer, cmds []*command) {
	fmt.Fprintln(w, "usage: kuma-agent <command> [flags]\n\nCommands:")
	for _, c := range cmds {
		if !c.hidden {
			fmt.Fprintf(w, "  %-10s %s\n", c.name, c.short)
		}
	}
	fmt.Fprintln(w, "\nRun `kuma-agent <command> -h` for a command's flags.")
}

func versionCommand(o stdio) *command {
	return &command{
		name:  "version",
		short: "print the version",
		usage: "kuma-agent version",
		exec: func(context.Context, []string) error {
			_, err := fmt.Fprintf(o.out, "kuma-agent %s\n", version)
			return err
		},
	}
}
