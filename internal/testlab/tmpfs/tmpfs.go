// Package tmpfs gives tests small file systems they can fill up or make
// read-only: tmpfs mounts made in a private mount namespace of a child
// process (the test binary run again for the one test), so no mount
// outlives the test and the host's mount table is never touched, even when
// the test is killed.
//
//	func TestFullDisk(t T) {
//		if !tmpfs.InNamespace(t) {
//			return // the parent: the child ran the body and passed
//		}
//		dir := tmpfs.Mount(t, 256<<10)
//		...
//	}
package tmpfs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"

	"github.com/kuma-agent/kuma-agent/internal/testlab"
	"golang.org/x/sys/unix"
)

const childEnv = "KUMA_TEST_TMPFS_CHILD"

const skipReason = "SKIP (loud): needs root to mount a tmpfs in a private mount namespace; CI runs as root"

// T is what the helpers need of a test: testlab.TB, its name (the child
// process re-runs it by name) and Fatal.
type T interface {
	testlab.TB
	Name() string
	Fatal(args ...any)
}

// InNamespace runs the calling (top-level) test again in a child process
// in a new, private mount namespace and fails t if the child fails; it
// then returns false. In that child it returns true: the test body runs
// there. Without root it skips t.
func InNamespace(t T) bool {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip(skipReason)
	}
	if strings.Contains(t.Name(), "/") {
		t.Fatal("tmpfs.InNamespace: only for top-level tests")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name())
	// Go makes / private (MS_REC|MS_PRIVATE) in a child with a new mount
	// namespace, as unshare(1) does: nothing it mounts propagates back.
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s in a private mount namespace: %v\n%s", t.Name(), err, out)
	}
	t.Logf("ran in a private mount namespace:\n%s", out)
	return false
}

// Mount mounts a tmpfs of size bytes on a new temporary directory and
// returns the directory; it is unmounted at cleanup. Only in the child of
// InNamespace.
func Mount(t T, size int64) string {
	t.Helper()
	mustChild(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	// Registered after TempDir's: runs before its removal.
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// ReadOnly remounts the tmpfs at dir read-only (no file on it may be open
// for writing).
func ReadOnly(t T, dir string) {
	t.Helper()
	mustChild(t)
	if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount %s read-only: %v", dir, err)
	}
}

// ReadWrite remounts the tmpfs at dir read-write.
func ReadWrite(t T, dir string) {
	t.Helper()
	mustChild(t)
	if err := unix.Mount("", dir, "", unix.MS_REMOUNT, ""); err != nil {
		t.Fatalf("remount %s read-write: %v", dir, err)
	}
}

// Fill writes a file of zeros in dir until the file system is full and
// returns its path: removing it frees the space again.
func Fill(t T, dir string) string {
	t.Helper()
	mustChild(t)
	p := dir + "/filler"
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return p
			}
			t.Fatalf("fill %s: %v", dir, err)
		}
	}
}

func mustChild(t T) {
	if os.Getenv(childEnv) == "" {
		t.Fatal("tmpfs: mount only in the child of InNamespace (a private mount namespace)")
	}
}
