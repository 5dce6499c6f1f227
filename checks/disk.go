package checks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// Disk defaults, used when the fields are zero (config.Default sets the same).
const (
	DefaultDiskMinFree              uint64  = 32 << 30 // the KUMA installer's 32 GB in /var/lib
	DefaultDiskMinFreeInodesPercent float64 = 5
)

// DefaultDiskPaths must exist and have MinFree free.
var DefaultDiskPaths = []string{"/var/lib"}

// Usage is what a file system reports about its space.
type Usage struct {
	// FreeBytes is what an unprivileged process may still use (statfs
	// f_bavail), not counting the root-reserved blocks.
	FreeBytes, TotalBytes   uint64
	FreeInodes, TotalInodes uint64
	// Mount is the mount point, "" when unknown.
	Mount string
	// Dev identifies the file system (st_dev); paths on the same one are
	// reported once. 0 means unknown: no deduplication.
	Dev uint64
	// ReadOnly: mounted read-only (statfs ST_RDONLY).
	ReadOnly bool
}

// Disk checks free space and inodes where KUMA and k0s keep their data.
// The KUMA installer needs at least 32 GB free in /var/lib, and a cluster
// that fills its disk later loses etcd (k0s), Longhorn replicas or Core's
// database; running out of inodes fails writes just the same.
type Disk struct {
	// Paths must exist and have MinFree free; nil means DefaultDiskPaths.
	Paths []string
	// DataDirs are checked the same way, but only if they exist.
	DataDirs []string
	// MinFree is in bytes; 0 means DefaultDiskMinFree.
	MinFree uint64
	// MinFreeInodesPercent; 0 means DefaultDiskMinFreeInodesPercent.
	MinFreeInodesPercent float64
	// Stat reports the file system holding path; nil means statfs(2).
	Stat func(path string) (Usage, error)
}

func (*Disk) Name() string { return "disk" }
func (*Disk) Area() Area   { return AreaStorage }

// diskTarget is one file system to judge and the paths that live on it.
type diskTarget struct {
	paths []string
	u     Usage
}

func (d *Disk) Run(ctx context.Context) Result {
	stat := d.Stat
	if stat == nil {
		stat = StatFS
	}
	minFree := cmp.Or(d.MinFree, DefaultDiskMinFree)
	minInodes := cmp.Or(d.MinFreeInodesPercent, DefaultDiskMinFreeInodesPercent)
	paths := d.Paths
	if paths == nil {
		paths = DefaultDiskPaths
	}

	res := Result{Status: OK}
	targets, err := diskTargets(ctx, stat, paths, d.DataDirs,
		func(s Status, msg, remedy string) { diskReport(&res, s, msg, remedy) },
		func(detail string) { res.Details = append(res.Details, detail) })
	if err != nil {
		return Unknownf("check cancelled: "+err.Error(), "")
	}

	for _, t := range targets {
		d.judge(&res, t, minFree, minInodes)
	}
	if res.Status == OK {
		res.Message = fmt.Sprintf("%d file system(s) have at least %s and %g%% of inodes free", len(targets), diskBytes(minFree), minInodes)
		res.Remedy = ""
	}
	return res
}

func (d *Disk) judge(res *Result, t *diskTarget, minFree uint64, minInodes float64) {
	where := strings.Join(t.paths, ", ")
	if t.u.Mount != "" {
		where += " (on " + t.u.Mount + ")"
	}
	res.Details = append(res.Details, fmt.Sprintf("%s: %s free of %s, %s inodes free", where,
		diskBytes(t.u.FreeBytes), diskBytes(t.u.TotalBytes), diskInodePercent(t.u)))
	if t.u.ReadOnly {
		mount := cmp.Or(t.u.Mount, t.paths[0])
		diskReport(res, Crit, fmt.Sprintf("%s is mounted read-only: nothing can be written there (the agent holds its events in memory)", where),
			fmt.Sprintf("Find why it went read-only (`dmesg | grep -i -e 'remount' -e 'I/O error' -e ext4 -e xfs`), repair it (fsck) and remount it read-write (`mount -o remount,rw %s`).", mount))
	}
	if t.u.FreeBytes < minFree {
		diskReport(res, Crit, fmt.Sprintf("%s has %s free, needs at least %s", where, diskBytes(t.u.FreeBytes), diskBytes(minFree)),
			diskSpaceRemedy(t))
	}
	// Some file systems (btrfs) report no inode counts: nothing to judge.
	if t.u.TotalInodes > 0 {
		if pct := float64(t.u.FreeInodes) * 100 / float64(t.u.TotalInodes); pct < minInodes {
			diskReport(res, Warn, fmt.Sprintf("%s has %.1f%% of inodes free (%d of %d), below %g%%", where, pct, t.u.FreeInodes, t.u.TotalInodes, minInodes),
				diskInodeRemedy(t))
		}
	}
}

// diskTargets stats paths (each must exist) and dataDirs (only those that
// exist) and groups them by file system; report gets each problem, note
// each data directory skipped. The error is the context's, when cancelled.
// The disk and resources checks share it, so both judge the same file
// systems.
func diskTargets(ctx context.Context, stat func(string) (Usage, error), paths, dataDirs []string,
	report func(s Status, msg, remedy string), note func(string)) ([]*diskTarget, error) {
	var targets []*diskTarget
	byDev := map[uint64]*diskTarget{}
	add := func(p string, u Usage) {
		if t := byDev[u.Dev]; u.Dev != 0 && t != nil {
			t.paths = append(t.paths, p)
			return
		}
		t := &diskTarget{paths: []string{p}, u: u}
		targets = append(targets, t)
		if u.Dev != 0 {
			byDev[u.Dev] = t
		}
	}
	for _, p := range paths {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		u, err := stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			report(Crit, fmt.Sprintf("%s does not exist", p),
				fmt.Sprintf("Create %s (`mkdir -p %s`) or correct paths.disk_paths in /etc/kuma-agent/agent.yaml.", p, p))
		case err != nil:
			report(Unknown, fmt.Sprintf("cannot stat %s: %v", p, err), "Run the agent as root so it can read "+p+".")
		default:
			add(p, u)
		}
	}
	for _, p := range dataDirs {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			note(p + " does not exist (not checked)")
			continue
		}
		u, err := stat(p)
		if err != nil {
			report(Unknown, fmt.Sprintf("cannot stat %s: %v", p, err), "Run the agent as root so it can read "+p+".")
			continue
		}
		add(p, u)
	}
	return targets, nil
}

// diskReport adds a finding: the most severe one gives the message and
// remedy, the others become details.
func diskReport(res *Result, s Status, msg, remedy string) {
	if s > res.Status {
		if res.Message != "" {
			res.Details = append(res.Details, res.Status.String()+": "+res.Message)
		}
		res.Status, res.Message, res.Remedy = s, msg, remedy
		return
	}
	res.Details = append(res.Details, s.String()+": "+msg)
	if !strings.Contains(res.Remedy, remedy) {
		res.Remedy += "\n" + remedy
	}
}

func diskSpaceRemedy(t *diskTarget) string {
	mount := t.u.Mount
	if mount == "" {
		mount = t.paths[0]
	}
	return fmt.Sprintf("Free space on %s: find what grew with `du -xh --max-depth=2 %s | sort -h | tail -20`, "+
		"then e.g. `journalctl --vacuum-size=500M` and `apt-get clean`; or grow the file system. "+
		"The KUMA installer needs 32 GB free in /var/lib; `low_resources: true` in the inventory makes it create a 4 GB "+
		"Core volume instead of 512 GB, but only for a fresh install.", mount, t.paths[0])
}

func diskInodeRemedy(t *diskTarget) string {
	mount := t.u.Mount
	if mount == "" {
		mount = t.paths[0]
	}
	return fmt.Sprintf("Find directories holding many small files with `du --inodes -x %s | sort -n | tail -20` "+
		"and remove stale ones (old logs, spool files).", mount)
}

func diskInodePercent(u Usage) string {
	if u.TotalInodes == 0 {
		return "n/a"
	}
	return strconv.FormatFloat(float64(u.FreeInodes)*100/float64(u.TotalInodes), 'f', 1, 64) + "%"
}

// diskBytes prints n in the largest binary unit it reaches, as df -h does.
func diskBytes(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v, i := float64(n), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return strconv.FormatUint(n, 10) + " B"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i]
}
