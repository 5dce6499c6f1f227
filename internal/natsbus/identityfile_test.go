package natsbus

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestIdentityFileIsTheOwnersAlone: the reader's credentials are written
// 0600, owned by the writer (root, for the agent), read back; a copy
// others may read is refused, as is a FIFO.
func TestIdentityFileIsTheOwnersAlone(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, ReaderIdentityFile)
	id := testID("core-1", RoleReader)
	defer syscall.Umask(syscall.Umask(0o022)) // the usual one: the file must be 0600 anyway
	if err := WriteIdentityFile(p, id); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o600 || int(st.Uid) != os.Geteuid() {
		t.Fatalf("%s: mode %v uid %d; want 0600 and uid %d", p, fi.Mode().Perm(), st.Uid, os.Geteuid())
	}
	if os.Geteuid() == 0 && (st.Uid != 0 || st.Gid != 0) {
		t.Fatalf("written by root, owned by %d:%d", st.Uid, st.Gid)
	}
	got, err := ReadIdentityFile(p)
	if err != nil || got != id {
		t.Fatalf("read back %+v, %v; want %+v", got, err, id)
	}
	// Rewritten (each agent start) in place, still 0600, no temporary left.
	if err := WriteIdentityFile(p, testID("core-2", RoleReader)); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("%d files in %s after a rewrite, want 1", len(ents), dir)
	}

	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadIdentityFile(p); err == nil || !strings.Contains(err.Error(), "lets others read") {
		t.Fatalf("a 0644 identity file: %v, want refused", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadIdentityFile(fifo); err == nil || !strings.Contains(err.Error(), "FIFO") {
		t.Fatalf("a FIFO: %v, want refused without blocking", err)
	}
	if _, err := ReadIdentityFile(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "is it running?") {
		t.Fatalf("a missing file: %v", err)
	}
}

// TestNodeKeyMadeOnceAndKept: without a cluster secret the node key is
// random, made on the first call (0600) and the same afterwards.
func TestNodeKeyMadeOnceAndKept(t *testing.T) {
	p := filepath.Join(t.TempDir(), NodeKeyFile)
	k1, err := LoadOrCreateNodeKey(p)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateNodeKey(p)
	if err != nil || !bytes.Equal(k1, k2) || len(k1) < 32 {
		t.Fatalf("second load %x %v; want %x", k2, err, k1)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("node key mode %v", fi.Mode().Perm())
	}
	other, err := LoadOrCreateNodeKey(filepath.Join(t.TempDir(), NodeKeyFile))
	if err != nil || bytes.Equal(other, k1) {
		t.Fatalf("another node's key %x %v equals %x", other, err, k1)
	}
	if err := os.WriteFile(p, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateNodeKey(p); err == nil {
		t.Fatal("a 5-byte node key was accepted")
	}
}

// asNobodyEnv names the file the helper process reads as nobody.
const asNobodyEnv = "KUMA_NATSBUS_READ_AS_NOBODY"

// TestCredentialsUnreadableToOtherUsers: as root, write the reader's
// credentials as the agent does, then try to read them as nobody (a copy
// of this test binary run with nobody's uid and gid): EACCES, both with
// ReadIdentityFile (what `kuma-agent events` calls) and a plain open. A
// file of mode 0644 beside it is readable by nobody, so the directory is
// not what stops it.
func TestCredentialsUnreadableToOtherUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to drop privileges")
	}
	dir := t.TempDir()
	// Let nobody into the test's directories: only the file's mode counts.
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	creds := filepath.Join(dir, ReaderIdentityFile)
	if err := WriteIdentityFile(creds, testID("core-1", RoleReader)); err != nil {
		t.Fatal(err)
	}
	public := filepath.Join(dir, "public")
	if err := os.WriteFile(public, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// This binary may sit in a directory only root enters: run a copy.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "natsbus.test")
	copyFile(t, self, bin, 0o755)

	asNobody := func(file string) (string, error) {
		cmd := exec.Command(bin, "-test.run=^TestHelperReadAsNobody$", "-test.count=1", "-test.v")
		cmd.Env = []string{asNobodyEnv + "=" + file}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := asNobody(public); err != nil || !strings.Contains(out, "READ OK") {
		t.Fatalf("nobody cannot read a 0644 file beside them (the test is broken): %v\n%s", err, out)
	}
	out, err := asNobody(creds)
	if err != nil || !strings.Contains(out, "DENIED open: EACCES") || !strings.Contains(out, "DENIED ReadIdentityFile: EACCES") ||
		!strings.Contains(out, "run as root") {
		t.Fatalf("nobody reading the credentials: %v\n%s", err, out)
	}
	t.Logf("as nobody:\n%s", out)
}

// TestHelperReadAsNobody is the helper process of
// TestCredentialsUnreadableToOtherUsers.
func TestHelperReadAsNobody(t *testing.T) {
	file := os.Getenv(asNobodyEnv)
	if file == "" {
		t.Skip("helper process only")
	}
	if os.Geteuid() == 0 {
		t.Fatal("helper still root")
	}
	report := func(what string, err error) {
		switch {
		case err == nil:
			t.Logf("READ OK %s", what)
		case errors.Is(err, fs.ErrPermission):
			t.Logf("DENIED %s: EACCES (%v)", what, err)
		default:
			t.Logf("ERROR %s: %v", what, err)
		}
	}
	f, err := os.Open(file)
	if err == nil {
		f.Close()
	}
	report("open", err)
	if strings.HasSuffix(file, ReaderIdentityFile) {
		_, err = ReadIdentityFile(file)
		report("ReadIdentityFile", err)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
