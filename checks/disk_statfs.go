package checks

import (
	"bufio"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// StatFS is Disk's default Stat: statfs(2) for the numbers, stat(2) for the
// device id, /proc/self/mountinfo for the mount point (left empty if
// unavailable: it only makes messages clearer).
func StatFS(path string) (Usage, error) {
	var s unix.Statfs_t
	if err := unix.Statfs(path, &s); err != nil {
		return Usage{}, &fs.PathError{Op: "statfs", Path: path, Err: err}
	}
	bs := uint64(s.Frsize) // f_blocks and f_bavail count fragments
	if bs == 0 {
		bs = uint64(s.Bsize)
	}
	u := Usage{
		FreeBytes:   s.Bavail * bs,
		TotalBytes:  s.Blocks * bs,
		FreeInodes:  s.Ffree,
		TotalInodes: s.Files,
		ReadOnly:    s.Flags&unix.ST_RDONLY != 0,
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err == nil {
		u.Dev = uint64(st.Dev)
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		if abs, err := filepath.Abs(real); err == nil {
			if f, err := os.Open("/proc/self/mountinfo"); err == nil {
				u.Mount = diskMountPoint(f, abs)
				f.Close()
			}
		}
	}
	return u, nil
}

// diskMountPoint returns the mount point in a mountinfo listing that holds
// path: the longest mount point that is path or a parent of it, the last
// listed on a tie (a later mount covers an earlier one).
func diskMountPoint(r io.Reader, path string) string {
	best := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint options ...
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		mp := diskUnescape(f[4])
		if !diskUnder(path, mp) || len(mp) < len(best) {
			continue
		}
		best = mp
	}
	return best
}

func diskUnder(path, mount string) bool {
	if mount == "/" || path == mount {
		return true
	}
	return strings.HasPrefix(path, mount+"/")
}

// diskUnescape undoes mountinfo's octal escapes (\040 is a space).
func diskUnescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
