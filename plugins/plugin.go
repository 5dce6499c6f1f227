package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
)

// Output caps: a plugin gets this much of its stdout read; the rest is
// drained and discarded so the plugin never blocks on a full pipe.
const (
	maxStdout = 4096
	maxStderr = 1024
)

// pluginEnv is the whole environment of a plugin: nothing of the agent's
// own environment leaks into code we did not write.
var pluginEnv = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}

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
type run struct {
	stdout   []byte
	total    int64 // stdout bytes the plugin wrote
	stderr   []byte
	state    *os.ProcessState
	timedOut bool
}

func (r run) result(timeout time.Duration, fallback string) checks.Result {
	msg, details, remedy := parseOutput(r.stdout)
	if r.total > int64(len(r.stdout)) {
		details = append(details, fmt.Sprintf("output truncated: read %d of %d bytes", len(r.stdout), r.total))
	}
	var status checks.Status
	switch ws, _ := r.state.Sys().(syscall.WaitStatus); {
	case r.timedOut:
		status = checks.Unknown
		if msg != "" {
			details = append([]string{"last said: " + msg}, details...)
		}
		msg = fmt.Sprintf("timed out after %v, process group killed", timeout)
	case ws.Signaled():
		status = checks.Unknown
		details = append(details, fmt.Sprintf("killed by signal %v", ws.Signal()))
	default:
		code := r.state.ExitCode()
		s, ok := exitStatus[code]
		if !ok {
			s = checks.Unknown
			details = append(details, fmt.Sprintf("exit code %d (want 0 ok, 1 warning, 2 critical, 3 unknown)", code))
		}
		status = s
	}
	if msg == "" {
		msg = "plugin printed nothing"
		if e, _, _ := parseOutput(r.stderr); e != "" {
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

// runGroup runs path with no arguments, empty stdin and a minimal
// environment, in a new process group. When ctx ends the whole group is
// killed; after the plugin exits, whatever it left in its group is killed
// too, so background children neither outlive the check nor hold our pipes.
func runGroup(ctx context.Context, path string) (run, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return run{}, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return run{}, err
	}
	cmd := &exec.Cmd{
		Path:        path,
		Args:        []string{path},
		Env:         pluginEnv,
		Dir:         "/",
		Stdout:      outW, // *os.File: handed to the child, no copying goroutine
		Stderr:      errW,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return run{}, err
	}
	outC := capture(outR, maxStdout)
	errC := capture(errR, maxStderr)
	pgid := cmd.Process.Pid

	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var r run
	var werr error
	select {
	case werr = <-waited:
	case <-ctx.Done():
		r.timedOut = true
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		werr = <-waited
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // ESRCH when the group is already empty
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		return run{}, werr
	}
	r.state = cmd.ProcessState
	deadline := time.Now().Add(pipeGrace)
	_ = outR.SetReadDeadline(deadline)
	_ = errR.SetReadDeadline(deadline)
	out, errOut := <-outC, <-errC
	r.stdout, r.total, r.stderr = out.data, out.total, errOut.data
	return r, nil
}

type captured struct {
	data  []byte
	total int64
}

// capture reads up to limit bytes of f, then drains the rest until EOF or
// the read deadline, counting it.
func capture(f *os.File, limit int) <-chan captured {
	ch := make(chan captured, 1)
	go func() {
		defer f.Close()
		buf := make([]byte, limit)
		n, _ := io.ReadFull(f, buf)
		rest, _ := io.Copy(io.Discard, f)
		ch <- captured{data: buf[:n], total: int64(n) + rest}
	}()
	return ch
}
