// Package proc is the one way the agent runs a program: argv, never a
// shell; in a process group of its own, killed as a group when the context
// ends; output captured up to a cap, the rest read, counted and dropped so
// the program never blocks on a full pipe; a minimal environment; and a
// bounded wait for pipes a leftover descendant still holds, so no child can
// hang the caller.
//
// Checks (checks.ExecCommander), plugins, the supervisor (exec backend,
// rejoin and cleanup commands) and the alerts command action all run their
// programs through Run.
package proc

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// DefaultPath is the PATH of every program run: systemd's default for
// services. Program names without a '/' are looked up in it (or in the PATH
// the caller passes in Cmd.Env), never in the agent's own PATH.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Defaults for zero Cmd fields.
const (
	DefaultMaxOutput = 64 << 10
	DefaultWaitDelay = 2 * time.Second
)

// Cmd is one program to run.
type Cmd struct {
	// Argv is the program and its arguments; each argument reaches the
	// program as it is (no shell, no splitting, no expansion).
	Argv []string
	// Env is added to the minimal environment (PATH=DefaultPath, LANG=C)
	// as "KEY=value"; a key given here replaces the default one. Nothing of
	// the agent's own environment is passed unless the caller puts it here.
	Env []string
	// Dir is the working directory; "" means "/".
	Dir string
	// Stdin is the program's standard input; nil means empty.
	Stdin []byte
	// Timeout, when positive, bounds the run on top of ctx.
	Timeout time.Duration
	// MaxStdout and MaxStderr cap what is kept of each stream; 0 means
	// DefaultMaxOutput.
	MaxStdout, MaxStderr int
	// MergeStderr sends stderr into the stdout pipe (interleaved as
	// written, capped by MaxStdout); Result.Stderr stays empty.
	MergeStderr bool
	// KillLeftovers kills what the program left in its process group when
	// it exits (a check's background children must not outlive it). Off for
	// commands that start daemons which stay in the group.
	KillLeftovers bool
	// WaitDelay bounds how long output is still read after the program
	// exited or was killed, for a descendant that holds the pipes; 0 means
	// DefaultWaitDelay.
	WaitDelay time.Duration
}

// Result is what a run produced.
type Result struct {
	Stdout, Stderr []byte
	// StdoutDropped and StderrDropped count the bytes written beyond the
	// caps: read and discarded.
	StdoutDropped, StderrDropped int64
	// ExitCode is the program's exit status; -1 when a signal ended it or
	// it did not run.
	ExitCode int
	// Signal is the signal that ended the program, 0 when it exited.
	Signal syscall.Signal
	// Killed is ctx's error when the process group was killed because ctx
	// ended (timeout or cancel); nil otherwise.
	Killed error
}

// ExitError is a program that ran and did not succeed: it exited non-zero,
// a signal ended it, or its group was killed when ctx ended (then it wraps
// ctx's error: errors.Is(err, context.DeadlineExceeded) works).
type ExitError struct {
	Code   int
	Signal syscall.Signal
	Killed error
}

func (e *ExitError) Error() string {
	switch {
	case e.Killed != nil:
		return "process group killed: " + e.Killed.Error()
	case e.Signal != 0:
		return "signal: " + e.Signal.String()
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

// ExitCode is the exit status, -1 when a signal ended the program.
func (e *ExitError) ExitCode() int { return e.Code }

func (e *ExitError) Unwrap() error { return e.Killed }

// Run runs c and waits for it. The error is nil when the program exited
// 0, an *ExitError when it ran and failed, and any other error when it
// could not be started (the Result then has ExitCode -1). The Result holds
// the captured output in every case.
func Run(ctx context.Context, c Cmd) (Result, error) {
	res := Result{ExitCode: -1}
	if len(c.Argv) == 0 || c.Argv[0] == "" {
		return res, errors.New("empty command")
	}
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("%s not started: %w", c.Argv[0], err)
	}
	env := Environ(c.Env)
	path, err := lookPath(c.Argv[0], lookupEnv(env, "PATH"))
	if err != nil {
		return res, err
	}
	waitDelay := cmp.Or(c.WaitDelay, DefaultWaitDelay)

	// The write ends are *os.File: handed to the child as they are, with
	// no copying goroutine for Wait to wait for.
	outR, outW, err := os.Pipe()
	if err != nil {
		return res, err
	}
	errR, errW := outR, outW
	if !c.MergeStderr {
		if errR, errW, err = os.Pipe(); err != nil {
			outR.Close()
			outW.Close()
			return res, err
		}
	}
	cmd := &exec.Cmd{
		Path: path, Args: c.Argv, Env: env, Dir: cmp.Or(c.Dir, "/"),
		Stdout: outW, Stderr: errW,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
		WaitDelay:   waitDelay, // bounds the stdin copy when a descendant holds stdin
	}
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	err = cmd.Start()
	outW.Close()
	if !c.MergeStderr {
		errW.Close()
	}
	if err != nil {
		outR.Close()
		if !c.MergeStderr {
			errR.Close()
		}
		return res, err
	}
	outC := capture(outR, cmp.Or(c.MaxStdout, DefaultMaxOutput))
	var errC <-chan captured
	if !c.MergeStderr {
		errC = capture(errR, cmp.Or(c.MaxStderr, DefaultMaxOutput))
	}
	pgid := cmd.Process.Pid
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	var werr error
	exited := true
	select {
	case werr = <-waited:
	case <-ctx.Done():
		select {
		case werr = <-waited: // it ended as ctx did: not killed
		default:
			res.Killed = ctx.Err()
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			t := time.NewTimer(waitDelay)
			select {
			case werr = <-waited:
			case <-t.C: // stuck in the kernel: its goroutine reaps it later
				exited = false
				werr = fmt.Errorf("%s (pid %d) did not exit %v after SIGKILL: %w", c.Argv[0], pgid, waitDelay, res.Killed)
			}
			t.Stop()
		}
	}
	if c.KillLeftovers || res.Killed != nil {
		// ESRCH when the group is already empty. The leader's pid is not
		// reused while its group has members, so this hits only them.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	// A descendant that left the group may still hold the pipes: read
	// what comes within waitDelay, then stop.
	deadline := time.Now().Add(waitDelay)
	_ = outR.SetReadDeadline(deadline)
	out := <-outC
	res.Stdout, res.StdoutDropped = out.data, out.dropped
	if errC != nil {
		_ = errR.SetReadDeadline(deadline)
		e := <-errC
		res.Stderr, res.StderrDropped = e.data, e.dropped
	}

	if !exited || cmd.ProcessState == nil { // cmd.ProcessState is Wait's until it returned
		return res, werr
	}
	st := cmd.ProcessState
	res.ExitCode = st.ExitCode()
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		res.Signal = ws.Signal()
	}
	if res.Killed != nil || !st.Success() {
		return res, &ExitError{Code: res.ExitCode, Signal: res.Signal, Killed: res.Killed}
	}
	// A clean exit whose stdin copy had to be cut off (exec.ErrWaitDelay)
	// is still a clean exit.
	return res, nil
}

// Environ is the environment a program gets: PATH=DefaultPath and LANG=C,
// then extra, a later key replacing an earlier one.
func Environ(extra []string) []string {
	env := []string{"PATH=" + DefaultPath, "LANG=C"}
	for _, kv := range extra {
		k, _, _ := strings.Cut(kv, "=")
		env = deleteKey(env, k)
		env = append(env, kv)
	}
	return env
}

func deleteKey(env []string, key string) []string {
	out := env[:0]
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k != key {
			out = append(out, kv)
		}
	}
	return out
}

func lookupEnv(env []string, key string) string {
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v
		}
	}
	return ""
}

// lookPath finds name in path (a PATH value) unless it holds a '/'.
func lookPath(name, path string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue // never the working directory
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: executable file not found in PATH %s", name, path)
}

type captured struct {
	data    []byte
	dropped int64
}

// capture reads up to limit bytes of f, then drains the rest until EOF or
// the read deadline, counting it.
func capture(f *os.File, limit int) <-chan captured {
	ch := make(chan captured, 1)
	go func() {
		defer f.Close()
		data, _ := io.ReadAll(io.LimitReader(f, int64(limit)))
		rest, _ := io.Copy(io.Discard, f)
		ch <- captured{data: data, dropped: rest}
	}()
	return ch
}
