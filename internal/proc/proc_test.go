package proc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/proc/proctest"
)

// pidOf reads the pid the program printed as its first line.
func pidOf(t *testing.T, out []byte) int {
	t.Helper()
	line, _, _ := strings.Cut(string(out), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("no pid in output %q", out)
	}
	return pid
}

// The program under test is a shell that starts a background grandchild
// (which also holds stdout) and waits for it: the timeout kills both, and
// the grandchild's pipe does not hold the call.
func TestTimeoutKillsGrandchild(t *testing.T) {
	start := time.Now()
	res, err := Run(context.Background(), Cmd{Argv: []string{"sh", "-c", "sleep 100 & echo $!; wait"},
		Timeout: 300 * time.Millisecond, WaitDelay: 500 * time.Millisecond})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Run took %v", took)
	}
	var ee *ExitError
	if !errors.As(err, &ee) || !errors.Is(err, context.DeadlineExceeded) || ee.Signal != syscall.SIGKILL {
		t.Fatalf("err = %v (%#v), want a killed ExitError wrapping the deadline", err, ee)
	}
	if !errors.Is(res.Killed, context.DeadlineExceeded) || res.ExitCode != -1 {
		t.Errorf("result killed=%v exit=%d", res.Killed, res.ExitCode)
	}
	proctest.WaitDead(t, pidOf(t, res.Stdout))
}

func TestCancelKillsGroup(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var res Result
	var err error
	go func() {
		defer close(done)
		res, err = Run(ctx, Cmd{Argv: []string{"sh", "-c", "sleep 100 & echo $!; sleep 100"}})
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if !errors.Is(err, context.Canceled) || !errors.Is(res.Killed, context.Canceled) {
		t.Fatalf("err = %v, killed = %v, want context.Canceled", err, res.Killed)
	}
	proctest.WaitDead(t, pidOf(t, res.Stdout))
}

func TestDoneContextStartsNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	marker := filepath.Join(t.TempDir(), "ran")
	if _, err := Run(ctx, Cmd{Argv: []string{"touch", marker}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a program started on a done context")
	}
}

// A program that exits but leaves a child holding stdout: the call ends
// WaitDelay later, successfully; the child lives on unless KillLeftovers.
func TestLeftoverHoldingPipe(t *testing.T) {
	for _, kill := range []bool{false, true} {
		start := time.Now()
		res, err := Run(context.Background(), Cmd{Argv: []string{"sh", "-c", "sleep 100 & echo $!"},
			KillLeftovers: kill, WaitDelay: 200 * time.Millisecond})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("kill=%v: err %v exit %d", kill, err, res.ExitCode)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("kill=%v: Run took %v", kill, took)
		}
		pid := pidOf(t, res.Stdout)
		if !kill {
			if !proctest.Alive(pid) {
				t.Error("the leftover was killed without KillLeftovers")
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		proctest.WaitDead(t, pid)
	}
}

func TestOutputCap(t *testing.T) {
	res, err := Run(context.Background(), Cmd{
		Argv:      []string{"sh", "-c", "head -c 1000000 /dev/zero; head -c 5000 /dev/zero >&2"},
		MaxStdout: 1000, MaxStderr: 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stdout) != 1000 || res.StdoutDropped != 999000 {
		t.Errorf("stdout kept %d dropped %d, want 1000 and 999000", len(res.Stdout), res.StdoutDropped)
	}
	if len(res.Stderr) != 100 || res.StderrDropped != 4900 {
		t.Errorf("stderr kept %d dropped %d, want 100 and 4900", len(res.Stderr), res.StderrDropped)
	}
}

func TestMergeStderr(t *testing.T) {
	res, err := Run(context.Background(), Cmd{Argv: []string{"sh", "-c", "echo out; echo err >&2; echo out2"}, MergeStderr: true})
	if err != nil || string(res.Stdout) != "out\nerr\nout2\n" || len(res.Stderr) != 0 {
		t.Fatalf("stdout %q stderr %q err %v", res.Stdout, res.Stderr, err)
	}
}

func TestEnvironmentIsMinimal(t *testing.T) {
	t.Setenv("KUMA_PROC_SECRET", "leak")
	res, err := Run(context.Background(), Cmd{Argv: []string{"env"}, Env: []string{"FOO=bar", "LANG=C.UTF-8"}})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(string(res.Stdout))
	slices.Sort(got)
	want := []string{"FOO=bar", "LANG=C.UTF-8", "PATH=" + DefaultPath}
	if !slices.Equal(got, want) {
		t.Errorf("environment %q, want %q", got, want)
	}
}

// Names are looked up in the program's PATH, not the agent's.
func TestLookupInProgramPath(t *testing.T) {
	dir := t.TempDir()
	stub := filepath.Join(dir, "kuma-proc-stub")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\necho stub \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(filepath.ListSeparator)+os.Getenv("PATH"))
	if _, err := Run(context.Background(), Cmd{Argv: []string{"kuma-proc-stub"}}); err == nil || errors.As(err, new(*ExitError)) {
		t.Fatalf("err = %v, want not found: the agent's PATH must not count", err)
	}
	res, err := Run(context.Background(), Cmd{Argv: []string{"kuma-proc-stub", "a b"}, Env: []string{"PATH=" + dir + ":/usr/bin:/bin"}})
	if err != nil || string(res.Stdout) != "stub a b\n" {
		t.Fatalf("stdout %q err %v", res.Stdout, err)
	}
}

func TestExitCodesAndSignals(t *testing.T) {
	for _, tc := range []struct {
		script string
		code   int
		signal syscall.Signal
		msg    string
	}{
		{"exit 0", 0, 0, ""},
		{"exit 3", 3, 0, "exit status 3"},
		{"kill -TERM $$", -1, syscall.SIGTERM, "signal: terminated"},
	} {
		res, err := Run(context.Background(), Cmd{Argv: []string{"sh", "-c", tc.script}})
		if res.ExitCode != tc.code || res.Signal != tc.signal || res.Killed != nil {
			t.Errorf("%s: exit %d signal %v killed %v", tc.script, res.ExitCode, res.Signal, res.Killed)
		}
		var ee *ExitError
		switch {
		case tc.msg == "" && err != nil:
			t.Errorf("%s: err %v", tc.script, err)
		case tc.msg != "" && (!errors.As(err, &ee) || err.Error() != tc.msg || ee.ExitCode() != tc.code):
			t.Errorf("%s: err %v, want %q", tc.script, err, tc.msg)
		}
	}
	if _, err := Run(context.Background(), Cmd{Argv: []string{"/nonexistent/program"}}); err == nil || errors.As(err, new(*ExitError)) {
		t.Errorf("missing program: err %v, want a start error", err)
	}
	if _, err := Run(context.Background(), Cmd{}); err == nil {
		t.Error("empty argv ran")
	}
}

func TestStdinAndDir(t *testing.T) {
	res, err := Run(context.Background(), Cmd{Argv: []string{"cat"}, Stdin: []byte(`{"id":"1"}`)})
	if err != nil || string(res.Stdout) != `{"id":"1"}` {
		t.Fatalf("cat with stdin: %q %v", res.Stdout, err)
	}
	if res, err = Run(context.Background(), Cmd{Argv: []string{"cat"}}); err != nil || len(res.Stdout) != 0 {
		t.Fatalf("cat without stdin: %q %v", res.Stdout, err)
	}
	if res, _ = Run(context.Background(), Cmd{Argv: []string{"pwd"}}); string(res.Stdout) != "/\n" {
		t.Errorf("default dir %q, want /", res.Stdout)
	}
	dir, _ := filepath.EvalSymlinks(t.TempDir())
	if res, _ = Run(context.Background(), Cmd{Argv: []string{"pwd"}, Dir: dir}); string(res.Stdout) != dir+"\n" {
		t.Errorf("dir %q, want %s", res.Stdout, dir)
	}
}

// Each argument arrives as one, whatever it holds: no shell sees it.
func TestArgumentsAreNotInterpreted(t *testing.T) {
	dir := t.TempDir()
	arg := "$(touch " + filepath.Join(dir, "x") + "); touch " + filepath.Join(dir, "y")
	res, err := Run(context.Background(), Cmd{Argv: []string{"printf", "%s", arg}})
	if err != nil || string(res.Stdout) != arg {
		t.Fatalf("printf got %q, err %v", res.Stdout, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("an argument was run as a command: %v", ents)
	}
}
