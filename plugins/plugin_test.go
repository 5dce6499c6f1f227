package plugins

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/proc"
	"github.com/kuma-agent/kuma-agent/internal/proc/proctest"
)

// pluginDir is a fresh directory that passes the safety rules for the
// user running the tests.
func pluginDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "plugins.d")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return dir
}

// script writes an executable shell script and returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func runPlugin(t *testing.T, path string, timeout time.Duration) checks.Result {
	t.Helper()
	return Plugin{Path: path, Timeout: timeout, OwnerUID: os.Getuid()}.Run(context.Background())
}

func TestPluginExitCodes(t *testing.T) {
	dir := pluginDir(t)
	tests := []struct {
		name, body string
		status     checks.Status
		msg        string
		details    []string
		remedy     string
	}{
		{"ok", "echo 'DISK OK | free=70%'; exit 0", checks.OK, "DISK OK", nil, ""},
		{"warn", "echo 'disk 85% full'; echo '/var/lib: 85%'; exit 1", checks.Warn, "disk 85% full", []string{"/var/lib: 85%"}, "see the plugin " + filepath.Join(dir, "warn")},
		{"crit", "echo 'kuma down'; echo 'REMEDY: systemctl restart kuma-core | cat'; exit 2", checks.Crit, "kuma down", nil, "systemctl restart kuma-core | cat"},
		{"unknown", "echo 'cannot tell'; exit 3", checks.Unknown, "cannot tell", nil, "see the plugin " + filepath.Join(dir, "unknown")},
		{"odd code", "echo 'hm'; exit 7", checks.Unknown, "hm", []string{"exit code 7 (want 0 ok, 1 warning, 2 critical, 3 unknown)"}, "see the plugin " + filepath.Join(dir, "odd code")},
		{"silent", "exit 2", checks.Crit, "plugin printed nothing", nil, "see the plugin " + filepath.Join(dir, "silent")},
		{"stderr only", "echo 'oops: no such file' >&2; exit 2", checks.Crit, "plugin printed nothing", []string{"stderr: oops: no such file"}, "see the plugin " + filepath.Join(dir, "stderr only")},
		{"stdin is empty", "cat; echo \"read done\"", checks.OK, "read done", nil, ""},
		{"killed by signal", "kill -TERM $$", checks.Unknown, "plugin printed nothing", []string{"killed by signal terminated"}, "see the plugin " + filepath.Join(dir, "killed by signal")},
		{"invalid utf8", `printf 'bad \377 byte\n'; exit 1`, checks.Warn, "bad \uFFFD byte", nil, "see the plugin " + filepath.Join(dir, "invalid utf8")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runPlugin(t, script(t, dir, tt.name, tt.body), 30*time.Second)
			if r.Status != tt.status || r.Message != tt.msg || r.Remedy != tt.remedy {
				t.Errorf("got %v %q remedy %q; want %v %q remedy %q", r.Status, r.Message, r.Remedy, tt.status, tt.msg, tt.remedy)
			}
			if strings.Join(r.Details, "\n") != strings.Join(tt.details, "\n") {
				t.Errorf("details %q, want %q", r.Details, tt.details)
			}
		})
	}
}

func TestPluginEnvironment(t *testing.T) {
	t.Setenv("KUMA_AGENT_SECRET_TEST", "leak")
	dir := pluginDir(t)
	r := runPlugin(t, script(t, dir, "env", `echo "cwd=$(pwd)"; env | sort`), 30*time.Second)
	all := r.Message + "\n" + strings.Join(r.Details, "\n")
	if r.Message != "cwd=/" {
		t.Errorf("message %q, want the plugin to run in /", r.Message)
	}
	if !strings.Contains(all, "PATH="+proc.DefaultPath) {
		t.Errorf("no minimal PATH in %q", all)
	}
	if strings.Contains(all, "KUMA_AGENT_SECRET_TEST") || strings.Contains(all, "HOME=") {
		t.Errorf("agent environment leaked into the plugin: %q", all)
	}
}

func TestPluginOutputCap(t *testing.T) {
	dir := pluginDir(t)
	// 1 MiB of output: the plugin must not block on the pipe and we keep 4 KiB.
	p := script(t, dir, "chatty", `echo "first line"; head -c 1048576 /dev/zero | tr '\0' 'x'; echo; exit 1`)
	r := runPlugin(t, p, 30*time.Second)
	if r.Status != checks.Warn || r.Message != "first line" {
		t.Fatalf("got %v %q", r.Status, r.Message)
	}
	total := len("first line\n") + 1048576 + 1
	want := "output truncated: read 4096 of " + strconv.Itoa(total) + " bytes"
	if r.Details[len(r.Details)-1] != want {
		t.Errorf("last detail %q, want %q", r.Details[len(r.Details)-1], want)
	}
	kept := len(r.Message) + 1
	for _, d := range r.Details[:len(r.Details)-1] {
		kept += len(d)
	}
	if kept > 4096 {
		t.Errorf("kept %d bytes of output, cap is 4096", kept)
	}
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestPluginTimeoutKillsGroup(t *testing.T) {
	dir := pluginDir(t)
	pidFile := filepath.Join(t.TempDir(), "grandchild.pid")
	p := script(t, dir, "hang", `echo "starting"
sleep 1000 &
echo $! > `+pidFile+`
sleep 1000`)
	r := runPlugin(t, p, 300*time.Millisecond)
	if r.Status != checks.Unknown || r.Message != "timed out after 300ms, process group killed" {
		t.Errorf("got %v %q", r.Status, r.Message)
	}
	if len(r.Details) == 0 || r.Details[0] != "last said: starting" {
		t.Errorf("details %q, want the partial output", r.Details)
	}
	proctest.WaitDead(t, readPid(t, pidFile))
}

func TestPluginLeftoversKilled(t *testing.T) {
	// A plugin that exits but leaves a child holding stdout: the check ends
	// with the plugin, and the child is killed with its group.
	dir := pluginDir(t)
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	p := script(t, dir, "leaky", `sleep 1000 &
echo $! > `+pidFile+`
echo "OK but leaky"`)
	done := make(chan checks.Result, 1)
	go func() { done <- runPlugin(t, p, time.Hour) }()
	select {
	case r := <-done:
		if r.Status != checks.OK || r.Message != "OK but leaky" {
			t.Errorf("got %v %q", r.Status, r.Message)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run waited for the plugin's background child")
	}
	proctest.WaitDead(t, readPid(t, pidFile))
}

func TestPluginRecheckedBeforeRun(t *testing.T) {
	dir := pluginDir(t)
	marker := filepath.Join(t.TempDir(), "ran")
	p := script(t, dir, "late", "touch "+marker)
	cs, err := Loader{Dir: dir, OwnerUID: os.Getuid()}.Checks()
	if err != nil || len(cs) != 1 {
		t.Fatalf("checks %v, err %v", cs, err)
	}
	if err := os.Chmod(p, 0o777); err != nil {
		t.Fatal(err)
	}
	r := cs[0].Run(context.Background())
	if r.Status != checks.Crit || r.Message != "refused: "+p+" is world-writable" {
		t.Errorf("got %v %q", r.Status, r.Message)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a plugin made world-writable after loading still ran")
	}
}

func TestPluginNotExecutableFormat(t *testing.T) {
	dir := pluginDir(t)
	p := filepath.Join(dir, "garbage")
	if err := os.WriteFile(p, []byte{0x7f, 'E', 'L', 'F', 0, 0}, 0o755); err != nil {
		t.Fatal(err)
	}
	r := runPlugin(t, p, time.Minute)
	if r.Status != checks.Unknown || !strings.HasPrefix(r.Message, "cannot run plugin:") {
		t.Errorf("got %v %q", r.Status, r.Message)
	}
}

func BenchmarkPluginRun(b *testing.B) {
	dir := b.TempDir()
	p := filepath.Join(dir, "ok")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho OK\n"), 0o755); err != nil {
		b.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	pl := Plugin{Path: p, OwnerUID: os.Getuid()}
	for b.Loop() {
		if r := pl.Run(context.Background()); r.Status != checks.OK {
			b.Fatal(r)
		}
	}
}
