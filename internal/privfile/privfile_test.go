package privfile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestFinishIsPrivateWhateverTheUmask(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	p := filepath.Join(t.TempDir(), "secret")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	if err := Finish(f, []byte("key\n")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(p); string(b) != "key\n" {
		t.Errorf("content %q", b)
	}
}

func TestFinishReportsAndCloses(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ro")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p) // read-only: the write fails
	if err != nil {
		t.Fatal(err)
	}
	if err := Finish(f, []byte("x")); err == nil {
		t.Error("a write to a read-only descriptor succeeded")
	}
	if err := f.Close(); err == nil {
		t.Error("Finish left the file open")
	}
}
