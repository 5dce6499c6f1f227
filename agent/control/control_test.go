package control

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func serve(t *testing.T, handlers map[string]Handler, tweak ...func(*Server)) (*Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "control.sock")
	s, err := Listen(path, handlers, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tweak {
		f(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s, path
}

func TestRoundTripAndErrors(t *testing.T) {
	_, path := serve(t, map[string]Handler{
		"echo": func(_ context.Context, args json.RawMessage) (any, error) {
			var v map[string]int
			if err := json.Unmarshal(args, &v); err != nil {
				return nil, err
			}
			v["n"]++
			return v, nil
		},
		"fail": func(context.Context, json.RawMessage) (any, error) { return nil, errors.New("nope") },
	})
	ctx := context.Background()
	var out map[string]int
	if err := Call(ctx, path, "echo", map[string]int{"n": 41}, &out); err != nil || out["n"] != 42 {
		t.Fatalf("echo: %v %v", out, err)
	}
	if err := Call(ctx, path, "fail", nil, nil); err == nil || err.Error() != "agent: nope" {
		t.Errorf("fail: %v", err)
	}
	if err := Call(ctx, path, "bogus", nil, nil); err == nil || !strings.Contains(err.Error(), `unknown operation "bogus"`) {
		t.Errorf("bogus: %v", err)
	}
}

func TestSocketIsRootOnly(t *testing.T) {
	_, path := serve(t, nil)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}
	di, _ := os.Stat(filepath.Dir(path))
	if di.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", di.Mode().Perm())
	}
}

func TestPeerCredentialsChecked(t *testing.T) {
	_, path := serve(t, map[string]Handler{"x": func(context.Context, json.RawMessage) (any, error) { return 1, nil }},
		func(s *Server) { s.allowed = func(uint32) bool { return false } }) // as if the caller were another user
	err := Call(context.Background(), path, "x", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("got %v", err)
	}
}

func TestMalformedRequest(t *testing.T) {
	_, path := serve(t, nil)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("{not json\n"))
	buf := make([]byte, 512)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := c.Read(buf)
	var r Response
	if err := json.Unmarshal(buf[:n], &r); err != nil || !strings.Contains(r.Error, "malformed request") {
		t.Fatalf("%q %v", buf[:n], err)
	}
}

func TestNoAgentAndStaleSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.sock")
	if err := Call(context.Background(), path, "x", nil, nil); !errors.Is(err, ErrNoAgent) {
		t.Errorf("missing socket: %v", err)
	}
	// A socket file left behind by a crashed agent: nobody accepts on it.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if err := Call(context.Background(), path, "x", nil, nil); !errors.Is(err, ErrNoAgent) {
		t.Errorf("stale socket: %v", err)
	}
	s, err := Listen(path, nil, nil)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	// A second agent on a live socket is refused.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx) }()
	if _, err := Listen(path, nil, nil); err == nil || !strings.Contains(err.Error(), "another agent") {
		t.Errorf("second agent: %v", err)
	}
	cancel()
	<-done
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Error("socket not removed on shutdown")
	}
	// A regular file in the way is not deleted.
	os.WriteFile(path, []byte("x"), 0o600)
	if _, err := Listen(path, nil, nil); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("regular file: %v", err)
	}
}

// TestOtherUserIsRefused connects as uid 65534 (nobody) from a child
// process: the 0700 directory and 0600 socket must stop it.
func TestOtherUserIsRefused(t *testing.T) {
	if os.Getenv("KUMA_CONTROL_CHILD") != "" {
		return // the child's part runs in TestChildConnects
	}
	if os.Geteuid() != 0 {
		t.Skip("SKIP (loud): needs root to switch to uid 65534; CI runs as root")
	}
	_, path := serve(t, map[string]Handler{"x": func(context.Context, json.RawMessage) (any, error) { return 1, nil }})
	// The child needs to traverse the test's temp dirs to reach the socket dir.
	for d := filepath.Dir(filepath.Dir(path)); d != "/" && d != filepath.Clean(os.TempDir()); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	// The test binary lives in a 0700 build dir: give the child a copy.
	bin := filepath.Join(filepath.Dir(filepath.Dir(path)), "control.test")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestChildConnects$", "-test.v")
	cmd.Env = append(os.Environ(), "KUMA_CONTROL_CHILD="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "CHILD-REFUSED") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func TestChildConnects(t *testing.T) {
	path := os.Getenv("KUMA_CONTROL_CHILD")
	if path == "" {
		t.Skip("helper for TestOtherUserIsRefused")
	}
	err := Call(context.Background(), path, "x", nil, nil)
	if err != nil && (errors.Is(err, os.ErrPermission) || strings.Contains(err.Error(), "permission denied")) {
		t.Log("CHILD-REFUSED:", err)
		return
	}
	t.Fatalf("a non-root user reached the agent: %v", err)
}

// TestServeErrorLeavesNothingBehind makes Accept fail with an error other
// than a close (a deadline in the past) while ctx stays live: Serve must
// return it without leaving a goroutine waiting on ctx, an open listener
// or the socket file.
func TestServeErrorLeavesNothingBehind(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.sock")
	s, err := Listen(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ln.SetDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // only at the end: Serve must not rely on it
	if err := s.Serve(ctx); err == nil || !strings.Contains(err.Error(), "control socket") {
		t.Fatalf("Serve = %v, want the accept error", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left behind: %v", err)
	}
	if _, err := s.ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("listener still open: Accept = %v", err)
	}
	// The goroutine that closes the listener when ctx ends must be gone.
	deadline := time.Now().Add(2 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "control.(*Server).Serve") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a goroutine of Serve outlived it:\n%s", stacks)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOpTimeout: an operation given a longer timeout (a Raft recovery)
// runs under it; the others keep the default.
func TestOpTimeout(t *testing.T) {
	var mu sync.Mutex
	got := map[string]time.Duration{}
	h := func(op string) Handler {
		return func(ctx context.Context, _ json.RawMessage) (any, error) {
			d, _ := ctx.Deadline()
			mu.Lock()
			defer mu.Unlock()
			got[op] = time.Until(d)
			return nil, nil
		}
	}
	_, path := serve(t, map[string]Handler{"long": h("long"), "short": h("short")}, func(s *Server) { s.SetOpTimeout("long", time.Hour) })
	for _, op := range []string{"long", "short"} {
		if err := Call(context.Background(), path, op, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got["long"] <= 30*time.Second || got["short"] > 30*time.Second {
		t.Fatalf("handler deadlines %v: want the long op past the default 30 s, the other within it", got)
	}
}
