package checks

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

const gib = 1 << 30

// fakeStat serves Usage per path; unknown paths do not exist.
func fakeStat(m map[string]Usage) func(string) (Usage, error) {
	return func(p string) (Usage, error) {
		u, ok := m[p]
		if !ok {
			return Usage{}, &fs.PathError{Op: "statfs", Path: p, Err: fs.ErrNotExist}
		}
		return u, nil
	}
}

func TestDiskInjected(t *testing.T) {
	roomy := Usage{FreeBytes: 100 * gib, TotalBytes: 200 * gib, FreeInodes: 900, TotalInodes: 1000, Mount: "/", Dev: 1}
	cases := []struct {
		name      string
		usage     Usage
		want      Status
		msgHas    []string
		remedyHas string
	}{
		{"plenty", roomy, OK, []string{"at least 32.0 GiB"}, ""},
		{"low space", Usage{FreeBytes: 12*gib + gib/2, TotalBytes: 50 * gib, FreeInodes: 900, TotalInodes: 1000, Mount: "/"}, Crit,
			[]string{"/var/lib (on /) has 12.5 GiB free, needs at least 32.0 GiB"}, "low_resources: true"},
		{"low inodes", Usage{FreeBytes: 100 * gib, TotalBytes: 200 * gib, FreeInodes: 30, TotalInodes: 1000, Mount: "/var"}, Warn,
			[]string{"3.0% of inodes free (30 of 1000), below 5%"}, "du --inodes -x /var"},
		{"both", Usage{FreeBytes: gib, TotalBytes: 200 * gib, FreeInodes: 1, TotalInodes: 1000}, Crit,
			[]string{"1.0 GiB free"}, "du --inodes"},
		{"no inode counts", Usage{FreeBytes: 100 * gib, TotalBytes: 200 * gib}, OK, nil, ""},
		{"read-only", Usage{FreeBytes: 100 * gib, TotalBytes: 200 * gib, Mount: "/var", ReadOnly: true}, Crit,
			[]string{"/var/lib (on /var) is mounted read-only"}, "mount -o remount,rw /var"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := &Disk{Paths: []string{"/var/lib"}, MinFree: 32 * gib, MinFreeInodesPercent: 5,
				Stat: fakeStat(map[string]Usage{"/var/lib": c.usage})}
			r := d.Run(context.Background())
			if r.Status != c.want {
				t.Fatalf("status = %v, want %v: %+v", r.Status, c.want, r)
			}
			for _, s := range c.msgHas {
				if !strings.Contains(r.Message, s) {
					t.Errorf("message %q lacks %q", r.Message, s)
				}
			}
			if !strings.Contains(r.Remedy, c.remedyHas) || (c.want == OK) != (r.Remedy == "") {
				t.Errorf("remedy %q, want one containing %q", r.Remedy, c.remedyHas)
			}
		})
	}
}

func TestDiskPathsAndDataDirs(t *testing.T) {
	existing := t.TempDir()
	absent := filepath.Join(existing, "absent")
	stat := fakeStat(map[string]Usage{
		"/var/lib": {FreeBytes: 100 * gib, TotalBytes: 200 * gib, Mount: "/", Dev: 7},
		existing:   {FreeBytes: 100 * gib, TotalBytes: 200 * gib, Mount: "/", Dev: 7},
	})
	d := &Disk{Paths: []string{"/var/lib"}, DataDirs: []string{absent, existing}, MinFree: gib, Stat: stat}
	r := d.Run(context.Background())
	if r.Status != OK {
		t.Fatalf("got %+v", r)
	}
	if !linesContain(r.Details, absent+" does not exist (not checked)") {
		t.Errorf("details %q do not mention the absent data dir", r.Details)
	}
	if !linesContain(r.Details, "/var/lib, "+existing+" (on /)") || !strings.HasPrefix(r.Message, "1 file system") {
		t.Errorf("same-device paths not reported together: %+v", r)
	}

	// A required path that is missing is critical.
	d.Paths = []string{"/var/lib", "/nonexistent/kuma"}
	r = d.Run(context.Background())
	if r.Status != Crit || !strings.Contains(r.Message, "/nonexistent/kuma does not exist") || !strings.Contains(r.Remedy, "mkdir -p /nonexistent/kuma") {
		t.Fatalf("got %+v", r)
	}

	// Other stat errors are unknown, and a later crit still wins.
	d.Paths = []string{"/denied", "/var/lib"}
	d.MinFree = 1 << 50
	d.Stat = func(p string) (Usage, error) {
		if p == "/denied" {
			return Usage{}, errors.New("permission denied")
		}
		return stat(p)
	}
	r = d.Run(context.Background())
	if r.Status != Crit || !linesContain(r.Details, "unknown: cannot stat /denied: permission denied") {
		t.Fatalf("got %+v", r)
	}
}

func TestDiskReal(t *testing.T) {
	dir := t.TempDir()
	r := (&Disk{Paths: []string{dir}, MinFree: 1, MinFreeInodesPercent: 0.0001}).Run(context.Background())
	if r.Status != OK {
		t.Fatalf("MinFree 1 byte: %+v", r)
	}
	r = (&Disk{Paths: []string{dir}, MinFree: 1 << 62, MinFreeInodesPercent: 0.0001}).Run(context.Background())
	if r.Status != Crit || !strings.Contains(r.Message, "needs at least 4.0 EiB") {
		t.Fatalf("MinFree 1<<62: %+v", r)
	}
	u, err := StatFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	if u.TotalBytes == 0 || u.FreeBytes > u.TotalBytes || u.Dev == 0 || u.Mount == "" || !diskUnder(dir, u.Mount) {
		t.Errorf("StatFS(%s) = %+v", dir, u)
	}
	if _, err := StatFS(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing path: err = %v, want ErrNotExist", err)
	}
	// A path that does not exist in Paths is reported by the real Stat too.
	r = (&Disk{Paths: []string{filepath.Join(dir, "missing")}, MinFree: 1}).Run(context.Background())
	if r.Status != Crit {
		t.Errorf("missing real path: %+v", r)
	}
}

func TestDiskMountPoint(t *testing.T) {
	const mountinfo = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
23 22 0:5 / /var rw - ext4 /dev/sda2 rw
24 23 0:6 / /var/lib/k0s rw - xfs /dev/sdb1 rw
25 22 0:7 / /mnt/with\040space rw - ext4 /dev/sdc1 rw
26 23 0:8 / /var rw - tmpfs tmpfs rw
`
	cases := map[string]string{
		"/var/lib":          "/var",
		"/var/lib/k0s/etcd": "/var/lib/k0s",
		"/var/lib/k0sx":     "/var",
		"/opt/kaspersky":    "/",
		"/mnt/with space/x": "/mnt/with space",
		"/":                 "/",
	}
	for path, want := range cases {
		if got := diskMountPoint(strings.NewReader(mountinfo), path); got != want {
			t.Errorf("diskMountPoint(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestDiskBytes(t *testing.T) {
	cases := map[uint64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 32 * gib: "32.0 GiB", 1 << 62: "4.0 EiB", 1<<64 - 1: "16.0 EiB"}
	for n, want := range cases {
		if got := diskBytes(n); got != want {
			t.Errorf("diskBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
