package netlab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// labName matches the namespaces netlab makes: kl<pid base36>-<seq>-(sw|hN).
var labName = regexp.MustCompile(`^kl([0-9a-z]+)-[0-9a-z]+-(sw|h[0-9]+)$`)

// Sweep removes, best effort, every namespace whose name starts with
// prefix (and kills the processes inside), e.g. after a test binary was
// killed before its cleanups ran. It returns the first error met.
func Sweep(prefix string) error {
	if prefix == "" {
		return errors.New("netlab: Sweep needs a prefix")
	}
	names, err := namespaces()
	if err != nil {
		return err
	}
	var first error
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			if err := removeNS(n); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

// sweepStale removes the namespaces of labs whose process is gone.
func sweepStale() {
	names, err := namespaces()
	if err != nil {
		return
	}
	for _, n := range names {
		m := labName.FindStringSubmatch(n)
		if m == nil {
			continue
		}
		pid, err := strconv.ParseInt(m[1], 36, 64)
		if err != nil || pid == int64(os.Getpid()) {
			continue
		}
		if err := syscall.Kill(int(pid), 0); errors.Is(err, syscall.ESRCH) {
			_ = removeNS(n)
		}
	}
}

// namespaces lists the named network namespaces.
func namespaces() ([]string, error) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil, fmt.Errorf("ip netns list: %w", err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		// "name (id: 3)" or just "name"
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// removeNS kills whatever still runs in ns, then deletes it.
func removeNS(ns string) error {
	if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	err := ip("netns", "del", ns)
	if err != nil && strings.Contains(err.Error(), "No such file") {
		return nil // gone already (swept, or deleted by hand)
	}
	return err
}
