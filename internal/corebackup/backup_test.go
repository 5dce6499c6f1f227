package corebackup

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const id = "00000000-0000-0000-0000-000000000000"

// workDir makes a Core working directory: raft/ with data, the database, a
// symlink.
func workDir(t *testing.T) string {
	d := filepath.Join(t.TempDir(), id)
	os.MkdirAll(filepath.Join(d, "raft"), 0o750)
	os.WriteFile(filepath.Join(d, "raft", "log.db"), []byte("raft log"), 0o640)
	os.WriteFile(filepath.Join(d, "core.db"), []byte(strings.Repeat("sqlite", 100)), 0o640)
	os.Symlink("/etc/passwd", filepath.Join(d, "link"))
	return d
}

func clock(start time.Time) func() time.Time {
	n := 0
	return func() time.Time { n++; return start.Add(time.Duration(n) * time.Second) }
}

func TestCreateListVerifyPrune(t *testing.T) {
	src := workDir(t)
	dir := filepath.Join(t.TempDir(), "core-backups")
	o := Options{Dir: dir, Keep: 2, Now: clock(time.Date(2026, 11, 27, 19, 0, 0, 0, time.UTC))}
	var made []Backup
	for range 3 {
		b, err := Create(context.Background(), o, id, src)
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, b)
	}
	fi, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("backup dir mode %v, want 0700", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(made[2].Path); fi.Mode().Perm() != 0o600 {
		t.Errorf("archive mode %v, want 0600", fi.Mode().Perm())
	}
	bs, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 2 || bs[0].Path != made[2].Path || bs[1].Path != made[1].Path || !bs[0].Verified || bs[0].SHA256 != made[2].SHA256 {
		t.Fatalf("listed %+v; want the newest two of %+v", bs, made)
	}
	if _, err := os.Stat(made[0].Path + sumSuffix); !os.IsNotExist(err) {
		t.Errorf("pruned archive's sidecar left: %v", err)
	}
	// The archive holds the tree under <ID>/, the symlink as a link.
	names := entries(t, bs[0].Path)
	for _, want := range []string{id + "/", id + "/raft/", id + "/raft/log.db", id + "/core.db", id + "/link -> /etc/passwd"} {
		if !slices.Contains(names, want) {
			t.Errorf("archive lacks %q: %q", want, names)
		}
	}
	// A damaged archive is listed as such, and not Latest.
	f, _ := os.OpenFile(bs[0].Path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte("x"))
	f.Close()
	bs, _ = List(dir)
	if bs[0].Verified || !strings.Contains(bs[0].Problem, "checksum mismatch") {
		t.Fatalf("damaged archive: %+v", bs[0])
	}
	if l, ok := Latest(dir, id); !ok || l.Path != made[1].Path {
		t.Fatalf("Latest = %+v %v, want the intact older one", l, ok)
	}
}

func entries(t *testing.T, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var out []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		n := h.Name
		if h.Typeflag == tar.TypeSymlink {
			n += " -> " + h.Linkname
		}
		out = append(out, n)
	}
}

// Too large, or not enough room left for the disk check: refused, nothing
// written.
func TestCreateRefuses(t *testing.T) {
	src := workDir(t)
	dir := filepath.Join(t.TempDir(), "b")
	for _, c := range []struct {
		name string
		o    Options
		want string
	}{
		{"too large", Options{Dir: dir, MaxBytes: 10}, "more than the limit of 10"},
		{"disk would fall below the threshold", Options{Dir: dir, MinFree: 1 << 30, Free: func(string) (uint64, error) { return 1<<30 + 100, nil }}, "would leave less than the disk check's"},
		{"free space unknown", Options{Dir: dir, Free: func(string) (uint64, error) { return 0, errors.New("statfs: EIO") }}, "free space of"},
	} {
		_, err := Create(context.Background(), c.o, id, src)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want refused: %q", c.name, err, c.want)
		}
		if bs, _ := List(dir); len(bs) != 0 {
			t.Errorf("%s: %d archives left", c.name, len(bs))
		}
	}
	if _, err := Create(context.Background(), Options{Dir: dir}, "../x", src); err == nil {
		t.Error("an ID with a path accepted")
	}
	if _, err := Create(context.Background(), Options{Dir: dir}, id, filepath.Join(src, "missing")); err == nil {
		t.Error("a missing working directory archived")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}

func TestKeepFile(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "kuma-core-x.service")
	if err := os.WriteFile(src, []byte("[Service]\nExecStart=/bin/true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := Options{Dir: filepath.Join(dir, "backups")}
	kept, err := KeepFile(o, "x", src)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(kept)
	fi, serr := os.Stat(kept)
	if err != nil || serr != nil || string(b) != "[Service]\nExecStart=/bin/true\n" || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kept %s: %q %v %v", kept, b, err, serr)
	}
	if bs, err := List(o.Dir); err != nil || len(bs) != 0 {
		t.Fatalf("a kept unit file listed as a backup: %+v %v", bs, err)
	}
	if _, err := KeepFile(o, "../x", src); err == nil {
		t.Fatal("an ID with a path separator was accepted")
	}
}
