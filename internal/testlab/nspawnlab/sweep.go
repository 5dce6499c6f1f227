package nspawnlab

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/kuma-agent/kuma-agent/internal/testlab/netlab"
)

// hostName matches the machine and cgroup names of lab hosts: netlab's
// host namespace names, kl<pid base36>-<seq>-hN.
var hostName = regexp.MustCompile(`^kl([0-9a-z]+)-[0-9a-z]+-h[0-9]+$`)

// Sweep removes, best effort, every container, cgroup and network
// namespace whose name starts with prefix, e.g. after a test binary was
// killed before its cleanups ran. It returns the first error met.
func Sweep(prefix string) error {
	if prefix == "" {
		return errors.New("nspawnlab: Sweep needs a prefix")
	}
	hier, err := hierarchies()
	if err != nil {
		return err
	}
	match := func(name string) bool { return strings.HasPrefix(name, prefix) }
	first := sweep(hier, match)
	if err := netlab.Sweep(prefix); err != nil && first == nil {
		first = err
	}
	return first
}

// sweepStale removes the containers, cgroups and namespaces of labs whose
// test binary is gone.
func sweepStale(hier []hierarchy) {
	stale := map[string]bool{} // lab prefixes
	_ = sweep(hier, func(name string) bool {
		m := hostName.FindStringSubmatch(name)
		if m == nil {
			return false
		}
		pid, err := strconv.ParseInt(m[1], 36, 64)
		if err != nil || pid == int64(os.Getpid()) || alive(int(pid)) {
			return false
		}
		stale[name[:strings.LastIndex(name, "-h")]] = true
		return true
	})
	// netlab's own sweep takes a zombie (a killed binary nobody reaped)
	// for a live lab.
	for prefix := range stale {
		_ = netlab.Sweep(prefix + "-")
	}
}

// alive reports whether pid runs and is not a zombie.
func alive(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || !bytes.HasPrefix(b[i+1:], []byte(" Z"))
}

// sweep kills the nspawn processes whose machine name matches, with their
// containers, then removes the matching cgroups (killing what is left in
// them) under this process's cgroup and at each hierarchy's root.
func sweep(hier []hierarchy, match func(string) bool) error {
	for _, p := range nspawnProcs() {
		if match(p.machine) {
			if leader := findLeader(p.pid); leader > 0 {
				_ = syscall.Kill(leader, syscall.SIGKILL)
			}
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
	var first error
	for _, h := range hier {
		parents := []string{filepath.Join(h.mount, h.self)}
		if h.self != "/" {
			parents = append(parents, h.mount)
		}
		for _, parent := range parents {
			entries, err := os.ReadDir(parent)
			if err != nil {
				continue
			}
			for _, e := range entries {
				if e.IsDir() && match(e.Name()) {
					if err := removeCgroup(filepath.Join(parent, e.Name())); err != nil && first == nil {
						first = err
					}
				}
			}
		}
	}
	return first
}

type nspawnProc struct {
	pid     int
	machine string
}

// nspawnProcs lists the running systemd-nspawn processes and their -M.
func nspawnProcs() []nspawnProc {
	var ps []nspawnProc
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(string(bytes.TrimRight(b, "\x00")), "\x00")
		if filepath.Base(args[0]) != "systemd-nspawn" {
			continue
		}
		for i, a := range args {
			if a == "-M" && i+1 < len(args) {
				ps = append(ps, nspawnProc{pid, args[i+1]})
			} else if v, ok := strings.CutPrefix(a, "--machine="); ok {
				ps = append(ps, nspawnProc{pid, v})
			}
		}
	}
	return ps
}
