package testlab

import (
	"net"
	"os/exec"
	"syscall"
	"time"
)

// Daemon is a real server a test runs in the foreground (VictoriaMetrics,
// rsyslogd): in a process group of its own, stopped with SIGTERM (SIGKILL
// after StopGrace) and waited for at cleanup, also when the test fails, so
// no server outlives its test.
type Daemon struct {
	// Output is the server's stdout and stderr, logged at cleanup.
	Output *SyncBuffer
	done   chan struct{}
	err    error
}

// StopGrace is how long a Daemon has to exit after SIGTERM.
const StopGrace = 10 * time.Second

// StartDaemon starts path with args; the test fails if it cannot start.
func StartDaemon(t TB, path string, args ...string) *Daemon {
	t.Helper()
	d := &Daemon{Output: &SyncBuffer{}, done: make(chan struct{})}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = d.Output, d.Output
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", path, err)
		return d
	}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		pg := -cmd.Process.Pid
		_ = syscall.Kill(pg, syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(StopGrace):
			_ = syscall.Kill(pg, syscall.SIGKILL)
			<-d.done
		}
		t.Logf("%s exited (%v); its output:\n%s", path, d.err, d.Output.String())
	})
	return d
}

// Exited is closed once the server has exited.
func (d *Daemon) Exited() <-chan struct{} { return d.done }

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
