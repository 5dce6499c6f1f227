package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/testlab"
)

const runMainEnv = "FAKE_KUMA_CORE_RUN_MAIN"

// waitTimeout bounds every wait; generous because -race slows the child down.
const waitTimeout = 5 * time.Second

// syncBuffer collects a child's stderr while the test reads it.
type syncBuffer = testlab.SyncBuffer

// proc is a running fake-kuma-core child.
type proc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
}

// start runs `fake-kuma-core args...` with extra environment; it is killed at cleanup.
func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(cleanEnv(), env...)
	p := &proc{cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stderr, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			select {
			case <-p.done:
			case <-time.After(waitTimeout):
				t.Errorf("pid %d did not exit after kill", cmd.Process.Pid)
			}
		}
		// The child is the race-instrumented test binary; its reports must fail us too.
		if strings.Contains(p.stderr.String(), "DATA RACE") {
			t.Errorf("data race in child")
		}
		if t.Failed() {
			t.Logf("child output:\n%s", p.stderr)
		}
	})
	return p
}

// cleanEnv is the child's environment: this package's main instead of the tests, and
// none of the systemd variables the test itself may have inherited. The race runtime
// sleeps 1 s before a zero exit unless told otherwise, which would slow --install down.
func cleanEnv() []string {
	env := []string{runMainEnv + "=1", "GORACE=atexit_sleep_ms=0"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NOTIFY_SOCKET=") && !strings.HasPrefix(kv, "WATCHDOG_") &&
			!strings.HasPrefix(kv, "GORACE=") {
			env = append(env, kv)
		}
	}
	return env
}

// wait returns the exit code once the child exits, failing the test after waitTimeout.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(waitTimeout):
		t.Fatalf("child did not exit; output:\n%s", p.stderr)
		return -1
	}
}

// runOnce runs a short-lived invocation (like --install) and returns code and output.
func runOnce(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(cleanEnv(), env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run %q: %v", args, err)
	}
	if strings.Contains(string(out), "DATA RACE") {
		t.Errorf("data race in child:\n%s", out)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// notifySocket is a fake systemd NOTIFY_SOCKET collecting sd_notify messages.
type notifySocket struct {
	path string
	msgs chan string
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	// Unix socket paths are limited to ~108 bytes; t.TempDir() can be longer.
	dir, err := os.MkdirTemp("", "fkc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	n := &notifySocket{path: path, msgs: make(chan string, 256)}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			select {
			case n.msgs <- string(buf[:k]):
			default: // drop rather than block if the test stopped reading
			}
		}
	}()
	return n
}

// expect waits for a datagram containing want.
func (n *notifySocket) expect(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m := <-n.msgs:
			if strings.Contains(m, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no %q on NOTIFY_SOCKET within %v", want, timeout)
		}
	}
}

// none asserts that no datagram containing unwanted arrives for d.
func (n *notifySocket) none(t *testing.T, unwanted string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m := <-n.msgs:
			if strings.Contains(m, unwanted) {
				t.Fatalf("got %q on NOTIFY_SOCKET, want none for %v", m, d)
			}
		case <-deadline:
			return
		}
	}
}

// freePorts reserves n distinct free ports on 127.0.0.1 (all held open at once so they
// differ), then releases them for the child.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// testCore is one fake Core under test: its arguments, environment (KUMA root and
// control directory), control dir, working dir and health URL.
type testCore struct {
	id, dir, work string
	ports         []int // the listener flags' ports, in listenerFlags order
	health        string
	args, env     []string
}

func newTestCore(t *testing.T, extra ...string) *testCore {
	t.Helper()
	ps := freePorts(t, 1+len(listenerFlags))
	root := t.TempDir()
	c := &testCore{id: "11111111-2222-3333-4444-555555555555", dir: t.TempDir(), ports: ps[1:]}
	c.work = filepath.Join(root, "core", c.id)
	c.env = []string{rootEnv + "=" + root, stateEnv + "=" + c.dir}
	c.health = fmt.Sprintf("http://127.0.0.1:%d/health", ps[0])
	c.args = []string{"core", "--id", c.id, "--health", fmt.Sprintf("127.0.0.1:%d", ps[0])}
	for i, f := range listenerFlags {
		c.args = append(c.args, "--"+f, fmt.Sprintf("127.0.0.1:%d", c.ports[i]))
	}
	c.args = append(c.args, extra...)
	return c
}

// with is the environment plus more variables.
func (c *testCore) with(kv ...string) []string { return append(append([]string(nil), c.env...), kv...) }

func (c *testCore) setFault(t *testing.T, word string) { t.Helper(); c.setFile(t, faultFile, word) }

// setFile writes one word into a control file.
func (c *testCore) setFile(t *testing.T, name, word string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(c.dir, name), []byte(word+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (c *testCore) readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, name))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// get fetches health with a short client timeout, so a hung Core shows as an error.
func (c *testCore) get() (int, healthReply, error) {
	cl := &http.Client{Timeout: 500 * time.Millisecond}
	resp, err := cl.Get(c.health)
	if err != nil {
		return 0, healthReply{}, err
	}
	defer resp.Body.Close()
	var h healthReply
	err = json.NewDecoder(resp.Body).Decode(&h)
	return resp.StatusCode, h, err
}

// waitHealth polls health until ok accepts the answer.
func (c *testCore) waitHealth(t *testing.T, what string, ok func(int, healthReply, error) bool) healthReply {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		code, h, err := c.get()
		if ok(code, h, err) {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("health never became %s; last: %d %+v %v", what, code, h, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func status(code int, state string) func(int, healthReply, error) bool {
	return func(c int, h healthReply, err error) bool {
		return err == nil && c == code && h.Raft.State == state
	}
}

// waitLog waits for a line containing want in the child's output.
func (p *proc) waitLog(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !strings.Contains(p.stderr.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in output:\n%s", want, p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
