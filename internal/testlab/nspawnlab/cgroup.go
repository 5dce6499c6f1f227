package nspawnlab

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hierarchy is one cgroup hierarchy this process is in: host cgroups are
// made under self, inside mount.
type hierarchy struct {
	mount string // e.g. /sys/fs/cgroup/pids or /sys/fs/cgroup (v2)
	self  string // this process's cgroup in it, e.g. / or /process_api/x
}

// dir is the cgroup named name under this process's own. Nesting (rather
// than the hierarchy's root) keeps containers inside any limit this
// process runs under.
func (h hierarchy) dir(name string) string { return filepath.Join(h.mount, h.self, name) }

// v1Controllers are the cgroup v1 hierarchies a container gets a cgroup
// of its own in (test-hosts.md). cpuset is left out: a new v1 cpuset
// cgroup has no cpus and refuses processes until they are copied in.
var v1Controllers = map[string]bool{
	"name=systemd": true, "pids": true, "memory": true, "cpu": true, "cpuacct": true,
	"blkio": true, "devices": true, "freezer": true,
}

func hierarchies() ([]hierarchy, error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	hs := parseHierarchies(string(mi), string(cg))
	if len(hs) == 0 {
		return nil, errors.New("no cgroup hierarchy mounted (neither v2 nor v1 name=systemd)")
	}
	return hs, nil
}

// parseHierarchies pairs /proc/self/cgroup lines with their mount points
// from /proc/self/mountinfo. It handles v2 (one "0::" line), hybrid (v1
// controllers plus v2 at .../unified) and v1.
func parseHierarchies(mountinfo, cgroup string) []hierarchy {
	mounts := map[string]string{} // controller ("" for v2) -> mount point
	for _, line := range strings.Split(mountinfo, "\n") {
		left, right, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		lf, rf := strings.Fields(left), strings.Fields(right)
		if len(lf) < 5 || len(rf) < 3 {
			continue
		}
		mp := lf[4]
		switch rf[0] {
		case "cgroup2":
			if _, dup := mounts[""]; !dup {
				mounts[""] = mp
			}
		case "cgroup":
			for _, opt := range strings.Split(rf[2], ",") {
				if _, dup := mounts[opt]; !dup && v1Controllers[opt] {
					mounts[opt] = mp
				}
			}
		}
	}
	var hs []hierarchy
	seen := map[string]bool{}
	for _, line := range strings.Split(cgroup, "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		ctrls := []string{""}
		if f[1] != "" {
			ctrls = strings.Split(f[1], ",")
		}
		for _, c := range ctrls {
			mp, ok := mounts[c]
			if !ok || seen[mp] || (c != "" && !v1Controllers[c]) {
				continue
			}
			seen[mp] = true
			hs = append(hs, hierarchy{mount: mp, self: path.Clean("/" + f[2])})
		}
	}
	return hs
}

// cgroupPIDs lists the processes in dir and every cgroup below it.
func cgroupPIDs(dir string) []int {
	var pids []int
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return nil
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

// killCgroup SIGKILLs everything in dir's subtree until it is empty
// (processes can fork while being killed), for at most 10 s.
func killCgroup(dir string) bool {
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := cgroupPIDs(dir)
		if len(pids) == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// removeCgroup kills what runs in dir and removes it with every cgroup
// below it, deepest first. A missing dir is not an error.
func removeCgroup(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if !killCgroup(dir) {
		return fmt.Errorf("cgroup %s: processes %v survive SIGKILL", dir, cgroupPIDs(dir))
	}
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	// Just-killed processes may keep a v1 cgroup busy for a moment.
	deadline := time.Now().Add(5 * time.Second)
	for i := len(dirs) - 1; i >= 0; i-- {
		for {
			err := syscall.Rmdir(dirs[i])
			if err == nil || errors.Is(err, syscall.ENOENT) {
				break
			}
			if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
				return fmt.Errorf("remove cgroup %s: %w", dirs[i], err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}
