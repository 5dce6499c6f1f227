package main

// The command helper: each subcommand is a command value (its file builds
// it), the runner parses its flags, runs it and maps what it returns to an
// exit status, so the commands themselves only return errors.
//
//	nil                  exit 0
//	-h, --help           usage on stdout, exit 0
//	a usage error        "kuma-agent <command>: ..." and the synopsis on stderr, exit 2
//	an exitError         its own status (doctor's 0/1/2, Nagios 0-3, inventory's 0/1/2)
//	any other error      "kuma-agent <command>: ..." on stderr, exit 1

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/internal/config"
)

// stdio is where a command writes.
type stdio struct {
	in       io.Reader // for `--key-file -`
	out, err io.Writer
}

// command is one subcommand. Its constructor closes flags and exec over the
// command's own flag values, so every dispatch starts from fresh ones.
type command struct {
	name  string
	short string // its line in `kuma-agent -h`
	usage string // the synopsis, printed after "usage: "
	help  string // what -h prints under the synopsis
	// flags registers the command's flags (nil: it has none).
	flags func(fs *flag.FlagSet)
	// withArgs: the command takes arguments; else the runner refuses any.
	withArgs bool
	// verbs are the subcommands its first argument names (raft status,
	// keyring list, ...): shell completion offers them.
	verbs []string
	// hidden: left out of `kuma-agent -h`, the manual page and completion
	// (a build-time tool such as `man`).
	hidden bool
	// exec runs the command with the arguments left after the flags.
	exec func(ctx context.Context, args []string) error
}

// usageError is a mistake on the command line: exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// noArgs refuses arguments a command does not take.
func noArgs(args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}

// exitError ends a command with a status of its own: a verdict its output
// already printed (err nil), or an error that its documented statuses class
// (doctor and inventory exit 2 when they cannot judge).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// exitWith is the error that makes the runner exit with code (nil for a
// silent 0).
func exitWith(code int, err error) error {
	if code == 0 && err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// run parses args, runs the command and returns its exit status.
func (c *command) run(ctx context.Context, args []string, o stdio) int {
	fs := c.flagSet()
	rest, err := parseArgs(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		c.writeHelp(o.out, fs)
		return 0
	case err != nil:
		err = usageError{err}
	case !c.withArgs:
		err = noArgs(rest)
	}
	if err == nil {
		err = c.exec(ctx, rest)
	}
	return c.exitCode(err, o.err)
}

// flagSet is a fresh set of the command's flags: what run parses, and
// what the manual page and shell completion list.
func (c *command) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("kuma-agent "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and help are printed by run, each once
	if c.flags != nil {
		c.flags(fs)
	}
	return fs
}

// exitCode prints err with the command's prefix and maps it to a status.
func (c *command) exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "kuma-agent %s: %v\n", c.name, err)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "kuma-agent %s: %v\n", c.name, err)
	if errors.As(err, new(usageError)) {
		fmt.Fprintf(stderr, "usage: %s\nRun 'kuma-agent %s -h' for details.\n", c.usage, c.name)
		return 2
	}
	return 1
}

func (c *command) writeHelp(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: %s\n", c.usage)
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.help))
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

// parseArgs accepts flags before and after arguments
// (`inventory check FILE --format json`), which flag alone does not: it
// stops at the first argument. "--" ends the flags.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// flagSet reports whether the command line set flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

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

// choiceFlag accepts one of a fixed set of values.
type choiceFlag struct {
	value   *string
	allowed []string
}

func (c *choiceFlag) String() string {
	if c.value == nil {
		return ""
	}
	return *c.value
}

func (c *choiceFlag) Set(v string) error {
	if !slices.Contains(c.allowed, v) {
		return fmt.Errorf("want %s", orList(c.allowed))
	}
	*c.value = v
	return nil
}

// orList is "a, b or c".
func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

var tableOrJSON = []string{"table", "json"}

// defaultTimeout is how long a command waits for the agent by default.
const defaultTimeout = 10 * time.Second

// shared holds the flags several commands have: --config, --format and
// --timeout, each registered by register for the commands that have it.
type shared struct {
	fs      *flag.FlagSet
	config  string
	format  string
	timeout time.Duration
}

// register adds --config when configHelp is set, --format when formats are
// given (the first is the default; another value is a usage error) and
// --timeout when timeout (its default) is not zero.
func (s *shared) register(fs *flag.FlagSet, configHelp string, formats []string, timeout time.Duration) {
	s.fs = fs
	if configHelp != "" {
		fs.StringVar(&s.config, "config", config.DefaultPath, configHelp)
	}
	if len(formats) > 0 {
		s.format = formats[0]
		fs.Var(&choiceFlag{value: &s.format, allowed: formats}, "format", "output: one of `"+strings.Join(formats, "|")+"`")
	}
	if timeout != 0 {
		fs.DurationVar(&s.timeout, "timeout", timeout, "how long to wait for the agent")
	}
}

// agentFlags registers the shared flags of a command that talks to the
// running agent through its control socket.
func (s *shared) agentFlags(formats []string) func(*flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		s.register(fs, "agent config file (for the control socket's path)", formats, defaultTimeout)
	}
}

// loadConfig reads --config. A config that cannot be read is exit 2, as a
// usage error is.
func (s *shared) loadConfig() (config.Config, error) {
	cfg, err := loadConfig(s.config, flagSet(s.fs, "config"))
	if err != nil {
		return cfg, exitWith(2, err)
	}
	return cfg, nil
}

// loadConfig reads path. The default path may be absent (a fresh host, or
// doctor run before the package's config is edited): then the built-in
// defaults apply. A path the user named must exist.
func loadConfig(path string, explicit bool) (config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil && !explicit && errors.Is(err, fs.ErrNotExist) {
		return config.Default(), nil
	}
	return cfg, err
}

// call sends op to the running agent (its control socket from --config)
// and waits at most --timeout for the answer.
func (s *shared) call(ctx context.Context, op string, args, out any) error {
	cfg, err := s.loadConfig()
	if err != nil {
		return err
	}
	return callAgent(ctx, cfg.Agent.ControlSocket, s.timeout, op, args, out)
}

// fetch calls op into out and, with --format json, prints it; it reports
// whether the caller is left to print the table.
func (s *shared) fetch(ctx context.Context, stdout io.Writer, op string, out any) (table bool, err error) {
	if err := s.call(ctx, op, nil, out); err != nil {
		return false, err
	}
	if s.format == "json" {
		return false, writeJSON(stdout, out)
	}
	return true, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// callAgent is control.Call bounded by timeout and ended by ctx: the
// control client bounds its reads by a deadline only, so a blocked read
// would outlive an interrupt. Then the call is left to its deadline (the
// process is exiting) and its answer, if any, is dropped.
func callAgent(ctx context.Context, socket string, timeout time.Duration, op string, args, out any) error {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var raw json.RawMessage // the call's own copy: out is written only here
	done := make(chan error, 1)
	go func() { done <- control.Call(cctx, socket, op, args, &raw) }()
	var err error
	select {
	case err = <-done:
	case <-cctx.Done():
		err = cctx.Err()
	}
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return fmt.Errorf("control socket %s: %w", socket, ctx.Err())
	case cctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("control socket %s: the agent did not answer within %s (--timeout)", socket, timeout)
	default:
		return err
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("control socket %s: decode %s answer: %w", socket, op, err)
		}
	}
	return nil
}
