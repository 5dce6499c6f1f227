package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/mesh"
	"github.com/kuma-agent/kuma-agent/internal/config"
)

// isolated is a config whose every path is in a temporary directory.
func isolated(t *testing.T, edit func(*config.Config)) string {
	t.Helper()
	dir := t.TempDir()
	return writeConfig(t, func(c *config.Config) {
		c.Inventory = filepath.Join(dir, "inventory.yml")
		c.StateDir = filepath.Join(dir, "state")
		c.PluginDir = filepath.Join(dir, "plugins.d")
		c.Mesh.KeyringFile = filepath.Join(dir, "gossip.keyring")
		c.Events.Embedded.RoutePasswordFile = filepath.Join(dir, "nats-route.password")
		c.Agent.ControlSocket = filepath.Join(dir, "control.sock")
		c.NodeName = "node-1.example.com"
		if edit != nil {
			edit(c)
		}
	})
}

// Finding 6: a FIFO given as --inventory, --config or alerts --config
// blocked the command forever. Each must fail at once, naming the file.
func TestNamedFIFOsFailPromptly(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	good := isolated(t, nil)
	for _, args := range [][]string{
		{"config", "check", fifo},
		{"run", "--config", fifo},
		{"doctor", "--config", fifo},
		{"doctor", "--config", good, "--inventory", fifo, "--only", "inventory"},
		{"inventory", "check", fifo},
		{"alerts", "--check", "--config", fifo},
		{"alerts", "--config", filepath.Join("..", "..", "packaging", "alerts.yaml"), "--agent-config", fifo},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			type result struct {
				code        int
				out, errOut string
			}
			done := make(chan result, 1)
			go func() {
				code, out, errOut := run(context.Background(), args...)
				done <- result{code, out, errOut}
			}()
			select {
			case r := <-done:
				if r.code == 0 || !strings.Contains(r.out+r.errOut, fifo) || !strings.Contains(r.out+r.errOut, "not a regular file") {
					t.Errorf("%v: exit %d, stdout %q, stderr %q; want a failure naming the FIFO", args, r.code, r.out, r.errOut)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%v still blocked after 10s", args)
			}
		})
	}
}

// Finding 6: `umask 022; kuma-agent keygen > k` made a world-readable
// keyring. --out creates the file 0600 whatever the umask, and a readable
// regular file as stdout gets a warning with the fix.
func TestKeygenOutIsPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "gossip.keyring")
	if code, out, errOut := run(context.Background(), "keygen", "--out", path); code != 0 || out != "" || errOut != "" {
		t.Fatalf("keygen --out: exit %d %q %q", code, out, errOut)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("keyring mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	b, _ := os.ReadFile(path)
	var keys []string
	if err := json.Unmarshal(b, &keys); err != nil || len(keys) != 1 {
		t.Fatalf("keyring %q", b)
	}
	if _, err := mesh.DecodeKey(keys[0]); err != nil {
		t.Fatal(err)
	}
	// Never over an existing keyring.
	if code, _, errOut := run(context.Background(), "keygen", "--out", path); code != 1 || !strings.Contains(errOut, "exists") {
		t.Fatalf("second keygen --out: exit %d %q", code, errOut)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, b) {
		t.Fatal("keygen overwrote the keyring")
	}

	// stdout redirected to a world-readable file.
	redirect := filepath.Join(t.TempDir(), "k")
	f, err := os.OpenFile(redirect, os.O_WRONLY|os.O_CREATE, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"keygen"}, f, &errb); code != 0 {
		t.Fatalf("keygen > file: exit %d %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "warning: stdout is "+redirect+" with mode 0644") || !strings.Contains(errb.String(), "chmod 600 "+redirect) {
		t.Fatalf("stderr %q, want the warning with the fix", errb.String())
	}
	// A pipe (the e2e tests, `| ssh ...`): no warning.
	var out bytes.Buffer
	errb.Reset()
	if code := dispatch(context.Background(), []string{"keygen"}, &out, &errb); code != 0 || errb.Len() != 0 {
		t.Fatalf("keygen to a buffer: exit %d, stderr %q", code, errb.String())
	}
}

// Finding 6: a world-readable keyring or route password was used without a
// word. `run` and `config check` refuse it with the exact fix; the explicit
// option turns the refusal into a warning.
func TestRunRefusesReadableSecrets(t *testing.T) {
	var keyring, password string
	cfg := isolated(t, func(c *config.Config) {
		keyring, password = c.Mesh.KeyringFile, c.Events.Embedded.RoutePasswordFile
	})
	os.WriteFile(keyring, []byte(`["`+strings.Repeat("A", 43)+`="]`+"\n"), 0o600)
	os.Chmod(keyring, 0o644)
	os.WriteFile(password, []byte("secret\n"), 0o600)
	os.Chmod(password, 0o640)
	for _, args := range [][]string{{"run", "--config", cfg}, {"config", "check", cfg}} {
		code, _, errOut := run(context.Background(), args...)
		for _, want := range []string{"run chmod 600 " + keyring, "run chmod 600 " + password, "mesh.keyring_file", "events.embedded.route_password_file"} {
			if code != 1 || !strings.Contains(errOut, want) {
				t.Errorf("%v: exit %d, stderr %q; want exit 1 with %q", args, code, errOut, want)
			}
		}
	}
	allowed := isolated(t, func(c *config.Config) {
		c.Mesh.KeyringFile = keyring
		c.Agent.AllowInsecureSecretFiles = true
	})
	code, _, errOut := run(context.Background(), "config", "check", allowed)
	if code != 0 || !strings.Contains(errOut, "warning: ") || !strings.Contains(errOut, "chmod 600 "+keyring) {
		t.Errorf("allowed: exit %d, stderr %q; want 0 and a warning", code, errOut)
	}
}

// Finding 6: `config check` accepted `concurrency: 1.5` (became 1) and a
// non-loopback http_addr without a word.
func TestConfigCheckIntegersAndHTTPAddr(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("checks:\n  concurrency: 1.5\n"), 0o600)
	code, _, errOut := run(context.Background(), "config", "check", bad)
	if code != 1 || !strings.Contains(errOut, bad+":2: checks.concurrency: must be an integer") {
		t.Errorf("concurrency 1.5: exit %d, stderr %q", code, errOut)
	}
	public := isolated(t, func(c *config.Config) { c.Agent.HTTPAddr = "0.0.0.0:9465" })
	code, out, errOut := run(context.Background(), "config", "check", public)
	if code != 0 || !strings.Contains(out, "is valid") || !strings.Contains(errOut, "warning: "+public+": agent.http_addr: 0.0.0.0:9465 is not a loopback address") {
		t.Errorf("http_addr 0.0.0.0: exit %d, stderr %q", code, errOut)
	}
}
