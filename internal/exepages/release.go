// Package exepages gives back the page-table entries of the running
// executable's read-only mappings, so that the agent's resident memory is
// the code and data it uses rather than what it touched once.
//
// Why: the kernel maps a file's pages around each one a process touches
// (fault-around, 64 KiB by default), so starting up (every package's
// init, the configuration, the first pass of every check) leaves 21-24 MiB
// of a 27 MB binary resident, of which the agent then touches about 10 MiB
// a minute (smaps' Referenced), 17-20 MiB at the kernel's 64 KiB grain.
// Those pages are clean copies of the file: dropping their page-table
// entries (madvise MADV_DONTNEED) loses nothing, and the pages in use come
// back on their next touch, as minor faults while the page cache holds
// them. It is what the kernel's own reclaim does under memory pressure,
// done once the start-up is over and again now and then for the pages a
// rare path touched. It lowers RSS to what is in use; it frees no memory
// the page cache still holds.
//
// Only regions that are the executable's file, private, not writable, not
// locked and hold no page the process wrote, in memory or in swap (smaps'
// Anonymous and Swap both there and 0), are released: a dynamic build's
// relocated read-only data (RELRO) was written before it was made
// read-only, and dropping it would bring back the unrelocated file. The
// writable data segment is never touched.
package exepages

import (
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Releaser releases the executable's clean read-only pages. Every input
// is injectable; Self() is the running process.
type Releaser struct {
	// SmapsPath is the process's smaps (/proc/self/smaps).
	SmapsPath string
	// ExePath names the executable (/proc/self/exe): its device and inode
	// pick the regions, so a binary replaced on disk (" (deleted)") is
	// still recognised.
	ExePath string
	// Open and Stat open SmapsPath and identify ExePath. ParseSmaps
	// reads the opened file as a stream, under its own bound.
	Open func(string) (io.ReadCloser, error)
	Stat func(string) (FileID, error)
	// Advise drops the page-table entries of [start, start+length):
	// madvise(MADV_DONTNEED).
	Advise func(start, length uintptr) error
}

// FileID is a file's identity as smaps prints it.
type FileID struct {
	Dev   string // "fe:00"
	Inode uint64
	// Path is where the file was when the process started. smaps shows
	// an overlay file system's file (a container's) with the device and
	// inode of the file beneath it on kernels before 6.8, never the
	// overlay's that stat gives, so the path names it there.
	Path string
}

// is reports whether region m maps the file.
func (id FileID) is(m Mapping) bool {
	return (m.Dev == id.Dev && m.Inode == id.Inode) || (id.Path != "" && m.Path == id.Path)
}

// Result is what one Release did.
type Result struct {
	Regions     int    // regions released
	ReleasedKiB uint64 // their resident size before
	// Kept counts the executable's regions left alone: writable, shared,
	// locked, or holding pages the process wrote.
	Kept int
}

// Self is the Releaser of the running process.
func Self() Releaser {
	return Releaser{
		SmapsPath: "/proc/self/smaps",
		ExePath:   "/proc/self/exe",
		Open:      func(path string) (io.ReadCloser, error) { return os.Open(path) },
		Stat:      statID,
		Advise:    madviseDontNeed,
	}
}

// Release drops the resident pages of the executable's clean read-only
// regions. It fails only when it cannot tell which regions those are (no
// smaps, an smaps it cannot read) or the kernel refuses one; regions
// released before a refusal stay released and are counted.
func (r Releaser) Release() (Result, error) {
	id, err := r.Stat(r.ExePath)
	if err != nil {
		return Result{}, fmt.Errorf("identify the executable: %w", err)
	}
	f, err := r.Open(r.SmapsPath)
	if err != nil {
		return Result{}, fmt.Errorf("read %s: %w", r.SmapsPath, err)
	}
	maps, err := ParseSmaps(f)
	f.Close()
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", r.SmapsPath, err)
	}
	var res Result
	seen := false
	for _, m := range maps {
		if !id.is(m) {
			continue
		}
		seen = true
		if !Clean(m) || m.Locked {
			res.Kept++
			continue
		}
		if m.RSSKiB == 0 {
			continue
		}
		if err := r.Advise(uintptr(m.Start), uintptr(m.End-m.Start)); err != nil {
			return res, fmt.Errorf("release %x-%x (%s): %w", m.Start, m.End, m.Perms, err)
		}
		res.Regions++
		res.ReleasedKiB += m.RSSKiB
	}
	if !seen {
		return res, fmt.Errorf("%s has no region of the executable (%s, device %s inode %d)", r.SmapsPath, id.Path, id.Dev, id.Inode)
	}
	return res, nil
}

// Clean reports whether dropping a region's page-table entries loses
// nothing: private, not writable, and no page of it written by the
// process, in memory or swapped out (smaps must say both).
func Clean(m Mapping) bool {
	return len(m.Perms) == 4 && m.Perms[0] == 'r' && m.Perms[1] != 'w' && m.Perms[3] == 'p' &&
		m.HasAnonymous && m.AnonymousKiB == 0 && m.HasSwap && m.SwapKiB == 0
}

func statID(path string) (FileID, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return FileID{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return FileID{}, fmt.Errorf("%s: no device and inode on this system", path)
	}
	dev := uint64(st.Dev) //nolint:unconvert // Dev's type differs by architecture (uint32 on mips)
	// /proc/self/exe is a link to where the binary was; a plain path is
	// its own name.
	target, err := os.Readlink(path)
	if err != nil {
		target = path
	}
	return FileID{Dev: fmt.Sprintf("%02x:%02x", unix.Major(dev), unix.Minor(dev)), Inode: st.Ino, Path: target}, nil
}

// madviseDontNeed takes the addresses as numbers: the regions are the
// executable's, not Go memory, so no pointer is made of them.
func madviseDontNeed(start, length uintptr) error {
	if _, _, e := unix.Syscall(unix.SYS_MADVISE, start, length, unix.MADV_DONTNEED); e != 0 {
		return e
	}
	return nil
}
