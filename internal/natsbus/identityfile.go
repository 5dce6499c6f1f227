package natsbus

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/kuma-agent/kuma-agent/internal/privfile"
	"github.com/kuma-agent/kuma-agent/internal/yamlstrict"
)

// Files in the agent's state directory (root's, 0700 under systemd).
const (
	// ReaderIdentityFile holds the node's reader identity, for
	// `kuma-agent events` and `kuma-agent alerts`: written (0600) by the
	// agent each time its embedded server starts.
	ReaderIdentityFile = "nats-reader.json"
	// NodeKeyFile holds the random node key of a node without a cluster
	// secret (no route password), made on the first start (0600).
	NodeKeyFile = "nats-node.key"
)

// maxIdentityFile bounds what ReadIdentityFile reads.
const maxIdentityFile = 64 << 10

// WriteIdentityFile stores id in path, readable and writable by the
// owner only (this process's user: root for the agent). It replaces the
// file atomically, so a reader sees the old identity or the new one.
func WriteIdentityFile(path string, id Identity) error {
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	return writeSecret(path, append(b, '\n'))
}

// writeSecret writes b to path with mode 0600 through a temporary file
// in the same directory, renamed over path once synced.
func writeSecret(path string, b []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // gone after the rename; left only on error
	// CreateTemp makes it 0600 already; say so, whatever the umask.
	err = privfile.Finish(f, b)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ReadIdentityFile reads the identity WriteIdentityFile stored. It
// refuses a file others may read (someone changed its mode: the secret is
// out) and says that it is root's when this user may not read it.
func ReadIdentityFile(path string) (Identity, error) {
	b, err := readSecret(path, maxIdentityFile)
	if err != nil {
		return Identity{}, err
	}
	var id Identity
	if err := json.Unmarshal(b, &id); err != nil {
		return Identity{}, fmt.Errorf("nats credentials %s: %w", path, err)
	}
	if id.User == "" || id.Password == "" || id.InboxPrefix == "" {
		return Identity{}, fmt.Errorf("nats credentials %s: user, password or inbox_prefix is empty", path)
	}
	return id, nil
}

// readSecret reads at most limit bytes of a regular file of mode 0600 or
// stricter.
func readSecret(path string, limit int64) ([]byte, error) {
	f, err := yamlstrict.OpenRegular(path)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("nats credentials %s: %w (they are root's: run as root)", path, err)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("nats credentials %s: %w (the agent writes them when its embedded NATS server starts: is it running?)", path, err)
		}
		return nil, fmt.Errorf("nats credentials %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("nats credentials %s: %w", path, err)
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return nil, fmt.Errorf("nats credentials %s: mode %04o lets others read them; the agent writes them 0600 (restart it)", path, m)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("nats credentials %s: owned by uid %d, not by this user (uid %d)", path, st.Uid, os.Geteuid())
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("nats credentials %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("nats credentials %s: larger than %d bytes", path, limit)
	}
	return b, nil
}

// LoadOrCreateNodeKey reads the node key in path, or makes a random one
// and stores it there (0600) when there is none.
func LoadOrCreateNodeKey(path string) ([]byte, error) {
	b, err := readSecret(path, 1024)
	switch {
	case err == nil && len(b) >= 32:
		return b, nil
	case err == nil:
		return nil, fmt.Errorf("node key %s: %d bytes, want at least 32 (remove it: a new one is made)", path, len(b))
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	k, err := NewNodeKey()
	if err != nil {
		return nil, err
	}
	if err := writeSecret(path, k); err != nil {
		return nil, err
	}
	return k, nil
}
