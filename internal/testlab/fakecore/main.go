// Command fake-kuma-core stands in for KUMA Core (`/opt/kaspersky/kuma/kuma core ...`) in
// real-systemd tests (systemd-nspawn) of kuma-agent. It accepts exactly the flags KUMA
// 4.0's documentation shows for a Core and fails (exit 2) on any other, so a test that
// passes a made-up flag, or an agent step that would, fails as the real binary might:
//
//	fake-kuma-core core --id ID [--raft.node.listen ADDR:PORT] [--raft.node.addr HOST:PORT]
//	    [--raft.join HOST:PORT] [--health ADDR:PORT] [--internal ADDR:PORT]
//	    [--private ADDR:PORT] [--cybertrace ADDR:PORT] [--rest ADDR:PORT] [--install]
//
// From the outside it looks like a Core service: a TCP listener per listener flag given
// (nothing assumed: no flag, no listener), an HTTP health listener, sd_notify READY=1 and
// watchdog pings, one stderr line per state change, a working directory
// <root>/core/<ID> with raft/ and a database file (core.db), and raft/.reset honoured at
// start (the Core comes up as a one-node cluster it leads, and the file is removed).
// `core ... --install` records a (re)join and exits.
//
// Test knobs live outside the command line (the real binary has no such flags):
//
//	FAKE_KUMA_CORE_ROOT   KUMA's directory (default /opt/kaspersky/kuma)
//	FAKE_KUMA_CORE_STATE  the control directory (default /var/lib/fake-kuma-core/<ID>)
//
// and in files of the control directory, polled every 50 ms:
//
//	fault          one word: crash (exit 1 at once, the word cleared so systemd's restart is
//	               healthy), crash-always (exit 1 on every start and while running), hang
//	               (health requests held, watchdog pings stop), leave (out of the Raft cluster
//	               until an --install rejoin); empty or missing is healthy
//	role           leader or follower; missing: leader when started without --raft.join (the
//	               first Core, or one reset to a one-node cluster), follower otherwise
//	health-format  json (default), text, 404: how the health listener answers, so tests
//	               prove the agent depends on no one made-up format (KUMA documents none)
//
// `--install` writes member (the join target) and appends a line to joins.log; see state.go.
//
// Exit codes: 0 on SIGTERM/SIGINT or after --install, 1 on the crash faults, 2 on bad
// arguments or an unusable directory.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// Environment knobs (tests only; see the package comment).
const (
	rootEnv  = "FAKE_KUMA_CORE_ROOT"
	stateEnv = "FAKE_KUMA_CORE_STATE"
)

// listenerFlags are the documented Core listener flags, in the order they are opened.
var listenerFlags = []string{"raft.node.listen", "internal", "private", "cybertrace", "rest"}

// config is the parsed command line.
type config struct {
	id        string
	join      string // --raft.join target, "" for the first Core
	raftAddr  string // --raft.node.addr
	install   bool
	health    string            // ADDR:PORT of the health listener, "" for none
	listeners map[string]string // listener flag -> ADDR:PORT
	workDir   string            // <root>/core/<ID>
	stateDir  string            // the control directory
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run is main without os.Exit, so the exit code is decided in one place.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseArgs(args, os.Getenv, stderr)
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

func parseArgs(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	cfg := config{listeners: map[string]string{}}
	// The real binary takes the component as its first word; only "core" is faked.
	if len(args) == 0 || args[0] != "core" {
		return cfg, fmt.Errorf("usage: fake-kuma-core core --id ID [documented Core flags]")
	}
	fs := flag.NewFlagSet("fake-kuma-core core", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.id, "id", "", "Core service ID (required)")
	fs.StringVar(&cfg.join, "raft.join", "", "HOST:PORT of a Core to join")
	fs.StringVar(&cfg.raftAddr, "raft.node.addr", "", "HOST:PORT the other Cores reach this Core's Raft at")
	fs.BoolVar(&cfg.install, "install", false, "record a (re)join and exit")
	fs.StringVar(&cfg.health, "health", "", "health listener ADDR:PORT")
	listen := map[string]*string{}
	for _, f := range listenerFlags {
		listen[f] = fs.String(f, "", "listener ADDR:PORT")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	// The ID becomes a path element, so refuse anything that could escape the roots.
	if cfg.id == "" || strings.ContainsAny(cfg.id, `/\`) || cfg.id == "." || cfg.id == ".." {
		return cfg, fmt.Errorf("--id is required and must be a plain name, got %q", cfg.id)
	}
	for _, hp := range []struct{ flag, v string }{{"raft.join", cfg.join}, {"raft.node.addr", cfg.raftAddr}, {"health", cfg.health}} {
		if hp.v == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(hp.v); err != nil {
			return cfg, fmt.Errorf("--%s %q: %w", hp.flag, hp.v, err)
		}
	}
	for f, v := range listen {
		if *v == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(*v); err != nil {
			return cfg, fmt.Errorf("--%s %q: %w", f, *v, err)
		}
		cfg.listeners[f] = *v
	}
	root := getenv(rootEnv)
	if root == "" {
		root = "/opt/kaspersky/kuma"
	}
	cfg.workDir = filepath.Join(root, "core", cfg.id)
	cfg.stateDir = getenv(stateEnv)
	if cfg.stateDir == "" {
		cfg.stateDir = filepath.Join("/var/lib/fake-kuma-core", cfg.id)
	}
	return cfg, nil
}
