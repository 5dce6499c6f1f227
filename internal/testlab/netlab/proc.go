package netlab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
const stopGrace = 10 * time.Second

// Proc is a long-running process started in a host, leader of its own
// process group so that Kill reaches everything it spawned.
type Proc struct {
	cmd  *exec.Cmd
	pid  int
	done chan struct{}
	err  error // set before done is closed
	log  *os.File
	once sync.Once
}

// Start runs name in host i in the background, its stdout and stderr
// appended to logPath ("" discards them).
func (l *Lab) Start(i int, logPath, name string, args ...string) (*Proc, error) {
	return l.StartCmd(l.Exec(i, name, args...), logPath)
}

// StartCmd starts cmd (from Exec, with Env or Dir set by the caller) in
// the background like Start. `ip netns exec` execs the program in place,
// so PID is the program's own pid.
func (l *Lab) StartCmd(cmd *exec.Cmd, logPath string) (*Proc, error) {
	p := &Proc{cmd: cmd, done: make(chan struct{})}
	if logPath != "" {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("netlab: log %s: %w", logPath, err)
		}
		p.log = f
		cmd.Stdout, cmd.Stderr = f, f
	}
	// Own group: signals reach the children too. Pdeathsig: the process
	// dies with the test binary even if no cleanup runs (test timeout).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.closeLog()
		return nil, fmt.Errorf("netlab: start %v: %w", cmd.Args, err)
	}
	p.pid = cmd.Process.Pid
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		p.closeLog()
		close(p.done)
	}()
	return p, nil
}

// PID is the process's id (and its process group's).
func (p *Proc) PID() int { return p.pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is how the process ended; valid once Done is closed.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Kill sends SIGKILL to the whole group (a crash) and waits for the
// leader to be reaped. Killing an exited process is not an error.
func (p *Proc) Kill() {
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	<-p.done
}

// Stop asks the group to end with SIGTERM, then kills it after 10 s. It
// returns the leader's exit error unless that is just the SIGTERM.
func (p *Proc) Stop() error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = syscall.Kill(-p.pid, syscall.SIGTERM)
	t := time.NewTimer(stopGrace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.Kill()
		return fmt.Errorf("netlab: pid %d ignored SIGTERM for %v; killed", p.pid, stopGrace)
	}
	_ = syscall.Kill(-p.pid, syscall.SIGKILL) // stragglers in the group
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil
		}
	}
	return p.err
}

func (p *Proc) closeLog() {
	p.once.Do(func() {
		if p.log != nil {
			p.log.Close()
		}
	})
}
