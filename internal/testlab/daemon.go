package testlab

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Daemon is a real server a test runs in the foreground (VictoriaMetrics,
// rsyslogd, etcd, kube-apiserver): in a process group of its own, so a
// test's interrupt does not reach it before the test stops it, killed if
// the test binary dies (Pdeathsig), stopped with a signal and SIGKILL after
// a grace, and always waited for: no server outlives its test. It is the
// labs' one way to run a server (etcdlab and kubelab stop and restart
// theirs within a test).
type Daemon struct {
	// Output is the server's stdout and stderr when StartDaemon made it.
	Output *SyncBuffer
	cmd    *exec.Cmd
	done   chan struct{}
	err    error // set before done closes
	stop   sync.Mutex
}

// StopGrace is how long a Daemon has to exit after SIGTERM.
const StopGrace = 10 * time.Second

// StartDaemon starts path with args, its output in Output; the test fails
// if it cannot start, and its cleanup stops it (SIGTERM, SIGKILL after
// StopGrace) and logs the output.
func StartDaemon(t TB, path string, args ...string) *Daemon {
	t.Helper()
	out := &SyncBuffer{}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = out, out
	d, err := Start(cmd)
	if err != nil {
		t.Fatalf("%v", err)
		return &Daemon{Output: out, done: make(chan struct{})}
	}
	d.Output = out
	t.Cleanup(func() {
		d.Stop(syscall.SIGTERM, StopGrace)
		t.Logf("%s exited (%v); its output:\n%s", path, d.Err(), out.String())
	})
	return d
}

// Start starts cmd, which the caller has prepared (arguments, namespace,
// output), as a Daemon. The caller stops it.
func Start(cmd *exec.Cmd) (*Daemon, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	d := &Daemon{cmd: cmd, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

// Stop sends sig to the server's process group and waits for it to exit,
// sending SIGKILL after grace. Stopping a stopped server does nothing.
func (d *Daemon) Stop(sig syscall.Signal, grace time.Duration) {
	d.stop.Lock()
	defer d.stop.Unlock()
	if d.cmd == nil || !d.Running() {
		return
	}
	pg := -d.cmd.Process.Pid
	_ = syscall.Kill(pg, sig)
	select {
	case <-d.done:
	case <-time.After(grace):
		_ = syscall.Kill(pg, syscall.SIGKILL)
		<-d.done
	}
}

// Running reports whether the server has not exited yet.
func (d *Daemon) Running() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// Exited is closed once the server has exited.
func (d *Daemon) Exited() <-chan struct{} { return d.done }

// Err is how the server exited (nil while it runs or after a clean exit).
func (d *Daemon) Err() error {
	select {
	case <-d.done:
		return d.err
	default:
		return nil
	}
}

// Process is the server's process (for a test that freezes it with
// SIGSTOP).
func (d *Daemon) Process() *os.Process { return d.cmd.Process }

// FreePort is a loopback port of network ("tcp" or "udp") that was free a
// moment ago, for a server that takes its port on the command line. Another
// process may take it in between; the server's start then fails loudly.
func FreePort(t TB, network string) int {
	t.Helper()
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free udp port: %v", err)
			return 0
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	default:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free tcp port: %v", err)
			return 0
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
}
