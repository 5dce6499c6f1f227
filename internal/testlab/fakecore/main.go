// Command fake-kuma-core stands in for KUMA Core (`/opt/kaspersky/kuma/kuma core ...`) in
// real-systemd tests (systemd-nspawn) of the kuma-agent supervisor. It looks like a Core
// service from the outside: TCP listeners on the Core ports, an HTTP health endpoint,
// sd_notify READY=1 and watchdog pings, one stderr line per state change, and the
// documented rejoin `core --raft.join HOST:PORT --id ID --install`. Tests steer it by
// writing one word into <state-dir>/fault, which the service polls every 50 ms:
//
//	crash         exit 1 at once; the program empties the fault file first, so the
//	              restart systemd makes comes up healthy
//	crash-always  exit 1 on every start and while running; the file is left alone
//	hang          health requests are held unanswered and watchdog pings stop
//	leave         health 503, raft state "out", log "raft: removed from cluster";
//	              stays out until `core --install` records a rejoin (which clears "leave")
//	empty/missing healthy; any other word is logged as an error and ignored
//
// `core --install` writes <state-dir>/member (the join target) and appends a line to
// <state-dir>/joins.log; see state.go.
//
// Usage:
//
//	fake-kuma-core core --id ID [--raft.join HOST:PORT] [--install] [--listen ADDR]
//	    [--health PORT|ADDR:PORT] [--ports 7209,7210,7220,7222,7223]
//	    [--state-dir DIR] [--leader]
//
// Exit codes: 0 on SIGTERM/SIGINT or after --install, 1 on the crash faults,
// 2 on bad arguments or an unusable state dir.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// config is the parsed command line.
type config struct {
	id       string
	join     string // --raft.join target, "" for the seed Core
	install  bool
	listen   string
	health   string // HOST:PORT of the health listener
	ports    []int  // first one is the Raft port, reported as our address when leader
	stateDir string
	leader   bool
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run is main without os.Exit, so the exit code is decided in one place.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseArgs(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "fake-kuma-core:", err)
		return 2
	}
	if err := os.MkdirAll(cfg.stateDir, 0o755); err != nil {
		fmt.Fprintln(stderr, "fake-kuma-core:", err)
		return 2
	}
	if cfg.install {
		return install(cfg, stdout, stderr)
	}
	return serve(cfg, stderr)
}

func parseArgs(args []string, stderr io.Writer) (config, error) {
	var cfg config
	// The real binary takes the component as its first word; only "core" is faked.
	if len(args) == 0 || args[0] != "core" {
		return cfg, fmt.Errorf("usage: fake-kuma-core core --id ID [flags]")
	}
	fs := flag.NewFlagSet("fake-kuma-core core", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.id, "id", "", "Core service ID (required)")
	fs.StringVar(&cfg.join, "raft.join", "", "HOST:PORT of a Core to join")
	fs.BoolVar(&cfg.install, "install", false, "record a (re)join in the state dir and exit")
	fs.StringVar(&cfg.listen, "listen", "0.0.0.0", "address the ports listen on")
	health := fs.String("health", "7208", "health port, or ADDR:PORT like the real --health")
	ports := fs.String("ports", "7209,7210,7220,7222,7223", "comma-separated TCP ports to listen on (raft first)")
	fs.StringVar(&cfg.stateDir, "state-dir", "", "state dir (default /var/lib/fake-kuma-core/<ID>)")
	fs.BoolVar(&cfg.leader, "leader", false, "report this Core as the Raft leader")
	if err := fs.Parse(args[1:]); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	// The ID becomes a path element, so refuse anything that could escape the state root.
	if cfg.id == "" || strings.ContainsAny(cfg.id, `/\`) || cfg.id == "." || cfg.id == ".." {
		return cfg, fmt.Errorf("--id is required and must be a plain name, got %q", cfg.id)
	}
	if cfg.stateDir == "" {
		cfg.stateDir = filepath.Join("/var/lib/fake-kuma-core", cfg.id)
	}
	cfg.health = *health
	if !strings.Contains(cfg.health, ":") {
		cfg.health = net.JoinHostPort(cfg.listen, cfg.health)
	}
	for _, p := range strings.Split(*ports, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return cfg, fmt.Errorf("--ports: bad port %q", p)
		}
		cfg.ports = append(cfg.ports, n)
	}
	return cfg, nil
}
