// Package corebackup archives a KUMA Core's working directory
// (/opt/kaspersky/kuma/core/<ID>: Raft data under raft/ and the local
// SQLite database) into the agent's state directory before anything that
// reinstalls, resets or removes it. An archive is a gzip'd tar with a
// SHA-256 sidecar (sha256sum's format), written under a temporary name and
// renamed when complete, root-only (0600 in a 0700 directory: a Core's
// state holds its secrets); the newest Keep per Core are kept. A backup is
// refused, and with it the action, when the source is larger than
// MaxBytes or the disk would fall below MinFree.
package corebackup

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/kumaunit"
)

// Options configure backups.
type Options struct {
	Dir      string // where archives go: <state_dir>/core-backups
	MaxBytes int64  // the largest working directory archived
	Keep     int    // archives kept per Core, newest first (at least 1)
	// MinFree is the disk check's threshold: a backup that could leave
	// less free on Dir's file system is refused.
	MinFree uint64
	// Free reports the bytes free on the file system holding path.
	Free func(path string) (uint64, error)
	Now  func() time.Time
}

// Backup is one archive.
type Backup struct {
	ID     string    `json:"id"`
	Path   string    `json:"path"`
	Time   time.Time `json:"time"`
	Size   int64     `json:"size"`
	SHA256 string    `json:"sha256"`
	// Verified is false when the sidecar is missing or does not match.
	Verified bool   `json:"verified"`
	Problem  string `json:"problem,omitempty"`
}

const (
	suffix     = ".tar.gz"
	sumSuffix  = ".sha256"
	timeLayout = "20060102T150405.000000000Z"
)

// ErrRefused wraps every reason a backup was not taken (too large, no room).
var ErrRefused = errors.New("backup refused")

// Create archives src (the working directory of Core id) and prunes old
// archives of id. Nothing is left behind when it fails.
func Create(ctx context.Context, o Options, id, src string) (Backup, error) {
	if !kumaunit.PlainID(id) {
		return Backup{}, fmt.Errorf("core ID %q is no plain name", id)
	}
	if o.Keep < 1 {
		o.Keep = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	size, err := treeSize(ctx, src)
	if err != nil {
		return Backup{}, fmt.Errorf("back up %s: %w", src, err)
	}
	if o.MaxBytes > 0 && size > o.MaxBytes {
		return Backup{}, fmt.Errorf("%w: %s holds %d bytes, more than the limit of %d (supervisor.backups.max_bytes)", ErrRefused, src, size, o.MaxBytes)
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return Backup{}, fmt.Errorf("backup directory: %w", err)
	}
	if err := os.Chmod(o.Dir, 0o700); err != nil {
		return Backup{}, fmt.Errorf("backup directory: %w", err)
	}
	if o.Free != nil {
		free, err := o.Free(o.Dir)
		if err != nil {
			return Backup{}, fmt.Errorf("%w: free space of %s unknown: %v", ErrRefused, o.Dir, err)
		}
		// The archive is at most about the tree's size (gzip rarely grows
		// data; tar adds 512 bytes a file): judge by that upper bound.
		if free < uint64(size)+o.MinFree {
			return Backup{}, fmt.Errorf("%w: %s has %d bytes free; an archive of up to %d bytes would leave less than the disk check's %d",
				ErrRefused, o.Dir, free, size, o.MinFree)
		}
	}
	at := o.Now().UTC()
	name := id + "-" + at.Format(timeLayout) + suffix
	final := filepath.Join(o.Dir, name)
	tmp, err := os.CreateTemp(o.Dir, "."+name+".*")
	if err != nil {
		return Backup{}, fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	h := sha256.New()
	n, err := writeArchive(ctx, io.MultiWriter(tmp, h), src, id)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Backup{}, fmt.Errorf("archive %s: %w", src, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := os.WriteFile(final+sumSuffix+".tmp", []byte(sum+"  "+name+"\n"), 0o600); err != nil {
		return Backup{}, fmt.Errorf("checksum: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		os.Remove(final + sumSuffix + ".tmp")
		return Backup{}, fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(final+sumSuffix+".tmp", final+sumSuffix); err != nil {
		os.Remove(final)
		return Backup{}, fmt.Errorf("checksum: %w", err)
	}
	b := Backup{ID: id, Path: final, Time: at, Size: n, SHA256: sum, Verified: true}
	prune(o.Dir, id, o.Keep)
	return b, nil
}

// treeSize sums the regular files under dir; it refuses what is not a
// directory.
func treeSize(ctx context.Context, dir string) (int64, error) {
	fi, err := os.Lstat(dir)
	if err != nil {
		return 0, err
	}
	if !fi.IsDir() {
		return 0, fmt.Errorf("%s is not a directory", dir)
	}
	var n int64
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.Type().IsRegular() {
			i, err := d.Info()
			if err != nil {
				return err
			}
			n += i.Size()
		}
		return nil
	})
	return n, err
}

// countingWriter counts the archive's bytes.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeArchive writes src as a tar.gz whose entries start with id/.
// Symbolic links are stored as links, never followed; sockets, FIFOs and
// devices are skipped (a Core keeps none that matter).
func writeArchive(ctx context.Context, w io.Writer, src, id string) (int64, error) {
	cw := &countingWriter{w: w}
	gz := gzip.NewWriter(cw)
	tw := tar.NewWriter(gz)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		case !fi.Mode().IsRegular() && !fi.IsDir():
			return nil
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(filepath.Join(id, rel))
		if fi.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		// A file that grew since its header was written must not break
		// the archive: copy exactly the header's size.
		_, err = io.CopyN(tw, f, hdr.Size)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := gz.Close(); err == nil {
		err = cerr
	}
	return cw.n, err
}

// List reads the archives in dir, newest first, each checked against its
// sidecar. A missing dir is no backup.
func List(dir string) ([]Backup, error) { return list(dir, true) }

// Newest is id's newest archive that has its sidecar, not re-hashed (cheap
// enough for every doctor answer; List verifies).
func Newest(dir, id string) (Backup, bool) { return newest(dir, id, false) }

// newest is the first verified archive of id in the listing.
func newest(dir, id string, hash bool) (Backup, bool) {
	bs, err := list(dir, hash)
	if err != nil {
		return Backup{}, false
	}
	for _, b := range bs {
		if b.ID == id && b.Verified {
			return b, true
		}
	}
	return Backup{}, false
}

func list(dir string, hash bool) ([]Backup, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Backup
	for _, e := range ents {
		b, ok := parseName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		b.Path = filepath.Join(dir, e.Name())
		if fi, err := e.Info(); err == nil {
			b.Size = fi.Size()
		}
		if hash {
			b.SHA256, b.Verified, b.Problem = verify(b.Path)
		} else if _, err := os.Stat(b.Path + sumSuffix); err == nil {
			b.Verified = true
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b Backup) int { return b.Time.Compare(a.Time) })
	return out, nil
}

// Latest is the newest verified archive of id.
func Latest(dir, id string) (Backup, bool) { return newest(dir, id, true) }

func parseName(name string) (Backup, bool) {
	base, ok := strings.CutSuffix(name, suffix)
	if !ok || strings.HasPrefix(name, ".") {
		return Backup{}, false
	}
	i := strings.LastIndexByte(base, '-')
	if i <= 0 {
		return Backup{}, false
	}
	t, err := time.Parse(timeLayout, base[i+1:])
	if err != nil {
		return Backup{}, false
	}
	return Backup{ID: base[:i], Time: t}, true
}

// verify recomputes the archive's SHA-256 and compares the sidecar's.
func verify(path string) (sum string, ok bool, problem string) {
	f, err := os.Open(path)
	if err != nil {
		return "", false, err.Error()
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", false, err.Error()
	}
	sum = hex.EncodeToString(h.Sum(nil))
	side, err := os.ReadFile(path + sumSuffix)
	if err != nil {
		return sum, false, "no checksum file: " + err.Error()
	}
	want, _, _ := strings.Cut(strings.TrimSpace(string(side)), " ")
	if want != sum {
		return sum, false, fmt.Sprintf("checksum mismatch: the file says %.16s…, the archive is %.16s…", want, sum)
	}
	return sum, true, ""
}

// prune removes all but the newest keep archives of id (and their
// sidecars).
func prune(dir, id string, keep int) {
	bs, err := list(dir, false)
	if err != nil {
		return
	}
	n := 0
	for _, b := range bs {
		if b.ID != id {
			continue
		}
		n++
		if n > keep {
			os.Remove(b.Path)
			os.Remove(b.Path + sumSuffix)
		}
	}
}
