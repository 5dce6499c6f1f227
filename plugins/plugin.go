package plugins

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/proc"
)

// Output caps: a plugin gets this much of its stdout read; the rest is
// drained and discarded so the plugin never blocks on a full pipe.
const (
	maxStdout = 4096
	maxStderr = 1024
)

// pipeGrace is how long we keep reading output after the plugin's process
// group is gone, for a descendant that escaped the group but holds the pipe.
const pipeGrace = 100 * time.Millisecond

// exitStatus maps the Nagios exit codes; any other code is Unknown.
var exitStatus = map[int]checks.Status{0: checks.OK, 1: checks.Warn, 2: checks.Crit, 3: checks.Unknown}

// Plugin is one executable check.
type Plugin struct {
	Path     string
	Timeout  time.Duration
	OwnerUID int
}

func (p Plugin) Name() string    { return checkName(filepath.Base(p.Path)) }
func (Plugin) Area() checks.Area { return checks.AreaPlugin }

// Run executes the plugin. The file is inspected again first: it may have
// changed since the loader looked.
func (p Plugin) Run(ctx context.Context) checks.Result {
	v, err := inspectFile(p.Path, p.OwnerUID)
	if err != nil {
		return checks.Unknownf(fmt.Sprintf("cannot inspect plugin: %v", err), "see the plugin "+p.Path)
	}
	if v.unsafe != "" {
		return Refused{Reason: v.unsafe, Fix: v.remedy}.Run(ctx)
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r, err := runGroup(ctx, v.exec)
	fallback := "see the plugin " + p.Path
	if err != nil {
		return checks.Unknownf(fmt.Sprintf("cannot run plugin: %v", err), fallback)
	}
	return r.result(timeout, fallback)
}

// run is what one execution produced.
type run proc.Result

func (r run) result(timeout time.Duration, fallback string) checks.Result {
	msg, details, remedy := parseOutput(r.Stdout)
	if r.StdoutDropped > 0 {
		details = append(details, fmt.Sprintf("output truncated: read %d of %d bytes", len(r.Stdout), int64(len(r.Stdout))+r.StdoutDropped))
	}
	var status checks.Status
	switch {
	case r.Killed != nil:
		status = checks.Unknown
		if msg != "" {
			details = append([]string{"last said: " + msg}, details...)
		}
		msg = fmt.Sprintf("timed out after %v, process group killed", timeout)
	case r.Signal != 0:
		status = checks.Unknown
		details = append(details, fmt.Sprintf("killed by signal %v", r.Signal))
	default:
		code := r.ExitCode
		s, ok := exitStatus[code]
		if !ok {
			s = checks.Unknown
			details = append(details, fmt.Sprintf("exit code %d (want 0 ok, 1 warning, 2 critical, 3 unknown)", code))
		}
		status = s
	}
	if msg == "" {
		msg = "plugin printed nothing"
		if e, _, _ := parseOutput(r.Stderr); e != "" {
			details = append(details, "stderr: "+e)
		}
	}
	res := checks.Result{Status: status, Message: msg, Details: details}
	if status != checks.OK {
		res.Remedy = remedy
		if res.Remedy == "" {
			res.Remedy = fallback
		}
	}
	return res
}

// runGroup runs path with no arguments, empty stdin and the minimal
// environment, in a new process group killed when ctx ends; whatever the
// plugin left in its group is killed when it exits, so background children
// neither outlive the check nor hold our pipes.
func runGroup(ctx context.Context, path string) (run, error) {
	res, err := proc.Run(ctx, proc.Cmd{Argv: []string{path}, MaxStdout: maxStdout, MaxStderr: maxStderr,
		KillLeftovers: true, WaitDelay: pipeGrace})
	var ee *proc.ExitError
	if err != nil && !errors.As(err, &ee) {
		return run{}, err
	}
	return run(res), nil
}
