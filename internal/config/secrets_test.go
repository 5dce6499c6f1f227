package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func secretConfig(t *testing.T, mode os.FileMode) (Config, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := Default()
	cfg.Mesh.KeyringFile = filepath.Join(dir, "gossip.keyring")
	cfg.Events.Embedded.RoutePasswordFile = filepath.Join(dir, "nats-route.password") // absent: not checked
	if err := os.WriteFile(cfg.Mesh.KeyringFile, []byte(`["k"]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfg.Mesh.KeyringFile, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return cfg, cfg.Mesh.KeyringFile
}

// Finding 6: a world-readable keyring (`umask 022; kuma-agent keygen > k`)
// or route password was used without a word.
func TestSecretFilesRefusedWithTheFix(t *testing.T) {
	for _, c := range []struct {
		mode os.FileMode
		want string // "" = accepted
	}{
		{0o600, ""},
		{0o400, ""},
		{0o644, "is mode 0644, open to group and others: run chmod 600 "},
		{0o640, "is mode 0640, open to its group: run chmod 600 "},
		{0o604, "is mode 0604, open to others: run chmod 600 "},
		{0o660, "is mode 0660, open to its group"},
	} {
		cfg, path := secretConfig(t, c.mode)
		warns, err := cfg.CheckSecretFiles(false)
		if c.want == "" {
			if err != nil || warns != nil {
				t.Errorf("mode %04o: %v %v, want accepted", c.mode, warns, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "mesh.keyring_file: "+path+" "+c.want) ||
			(strings.Contains(c.want, "chmod") && !strings.Contains(err.Error(), "chmod 600 "+path)) {
			t.Errorf("mode %04o: error %v, want one with %q", c.mode, err, c.want)
		}
		// With --dev the keyring is not read, so not checked.
		if _, err := cfg.CheckSecretFiles(true); err != nil {
			t.Errorf("mode %04o with --dev: %v", c.mode, err)
		}
		// The explicit override: warnings instead.
		cfg.Agent.AllowInsecureSecretFiles = true
		warns, err = cfg.CheckSecretFiles(false)
		if err != nil || len(warns) != 1 || !strings.Contains(warns[0], "chmod 600 "+path) || !strings.Contains(warns[0], "allow_insecure_secret_files") {
			t.Errorf("mode %04o allowed: %v %v, want one warning", c.mode, warns, err)
		}
	}
}

func TestSecretFileOwnerAndKind(t *testing.T) {
	cfg, path := secretConfig(t, 0o600)
	if os.Geteuid() == 0 {
		if err := os.Chown(path, 1000, 1000); err != nil {
			t.Fatal(err)
		}
		_, err := cfg.CheckSecretFiles(false)
		if err == nil || !strings.Contains(err.Error(), "is owned by uid 1000, not root: run chown root:root "+path) {
			t.Errorf("foreign owner: %v", err)
		}
	} else {
		t.Log("SKIP (loud): the owner case needs root to chown; CI runs as root")
	}
	// NATS client secrets with an external server; a FIFO is no file.
	cfg, _ = secretConfig(t, 0o600)
	dir := t.TempDir()
	cfg.Events.NATS.URL = "nats://127.0.0.1:4222"
	cfg.Events.NATS.CredsFile = filepath.Join(dir, "agent.creds")
	if err := syscall.Mkfifo(cfg.Events.NATS.CredsFile, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Events.NATS.NKeyFile = filepath.Join(dir, "agent.nk")
	os.WriteFile(cfg.Events.NATS.NKeyFile, []byte("SU..."), 0o600)
	os.Chmod(cfg.Events.NATS.NKeyFile, 0o644)
	_, err := cfg.CheckSecretFiles(false)
	for _, want := range []string{"events.nats.creds_file: " + cfg.Events.NATS.CredsFile + " is not a regular file", "events.nats.nkey_file: " + cfg.Events.NATS.NKeyFile + " is mode 0644"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

func TestWarnings(t *testing.T) {
	for addr, warn := range map[string]bool{"127.0.0.1:9465": false, "[::1]:9465": false, "": false, "0.0.0.0:9465": true, "10.0.0.5:9465": true} {
		cfg := Default()
		cfg.Agent.HTTPAddr = addr
		w := cfg.Warnings()
		if got := len(w) == 1 && strings.Contains(w[0], "agent.http_addr: "+addr+" is not a loopback address"); got != warn {
			t.Errorf("http_addr %q: warnings %v", addr, w)
		}
	}
}
