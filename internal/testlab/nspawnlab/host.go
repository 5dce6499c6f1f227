package nspawnlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long Stop waits for a clean poweroff before SIGKILL.
const stopGrace = 10 * time.Second

// containerEnv is the whole environment of commands run inside: the test
// binary's (GOFLAGS, TMPDIR, ...) means nothing there.
var containerEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root", "LANG=C.UTF-8", "SYSTEMD_COLORS=0", "SYSTEMD_PAGER=",
}

// Host is one container. Its methods are safe for concurrent use.
type Host struct {
	lab  *Lab
	i    int
	name string
	args []string // binds and extra nspawn arguments

	mu       sync.Mutex
	cmd      *exec.Cmd     // nspawn, nil before the first boot
	done     chan struct{} // closed when nspawn was reaped
	leader   int           // container init, 0 when not running
	bootTime time.Duration
	booted   bool // this boot finished: systemd handles a poweroff request
	made     bool // cgroups created (so cleanup removes them)
}

// Name is the machine name, which is also the hostname inside and the
// netlab namespace name.
func (h *Host) Name() string { return h.name }

// Index is the host's number in the lab (1..N).
func (h *Host) Index() int { return h.i }

// Addr is the host's netlab IPv4 address.
func (h *Host) Addr() string { return h.lab.net.Addr(h.i) }

// Leader is the pid (on this machine) of the container's init, 0 when the
// container is not running.
func (h *Host) Leader() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.leader
}

// Root is the container's / seen from this machine. Prefer WriteFile and
// ReadFile: absolute symlinks inside resolve against this machine's root.
func (h *Host) Root() string { return "/proc/" + strconv.Itoa(h.Leader()) + "/root" }

// DBusAddress is the address of the container's system bus, for
// DialSystemd. It changes when the host is booted again.
func (h *Host) DBusAddress() string {
	return "unix:path=" + h.Root() + "/run/dbus/system_bus_socket"
}

// ConsoleLog is the file the container's console goes to.
func (h *Host) ConsoleLog() string { return filepath.Join(h.lab.logDir, h.name+".console") }

// BootTime is how long the last boot took, from starting nspawn until
// systemd reported running or degraded.
func (h *Host) BootTime() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bootTime
}

// Done is closed when the container's nspawn has exited (nil before the
// first boot).
func (h *Host) Done() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.done
}

// Start boots the container and waits until systemd is up (running or
// degraded), within the lab's BootTimeout. New boots every host; Start
// boots one again after Stop or Kill, from the pristine rootfs.
func (h *Host) Start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, h.lab.opts.BootTimeout)
	defer cancel()
	start := time.Now()
	if err := h.spawn(); err != nil {
		return err
	}
	if err := h.WaitBooted(ctx); err != nil {
		return fmt.Errorf("%s: %w\nconsole (last lines):\n%s", h.name, err, tail(h.ConsoleLog(), 25))
	}
	d := time.Since(start)
	h.mu.Lock()
	h.bootTime, h.booted = d, true
	h.mu.Unlock()
	h.lab.t.Logf("nspawnlab: %s (%s) booted in %v, leader pid %d", h.name, h.Addr(), d.Round(time.Millisecond), h.Leader())
	return nil
}

// spawn starts nspawn from cgroups of the host's own and finds the
// container's init.
func (h *Host) spawn() error {
	h.mu.Lock()
	if h.cmd != nil && h.leader != 0 {
		h.mu.Unlock()
		return fmt.Errorf("%s: already running", h.name)
	}
	h.made = true
	h.mu.Unlock()
	dirs := h.cgroupDirs()
	for _, dir := range dirs {
		// Fresh every boot: a stopped container leaves empty sub-cgroups.
		if err := removeCgroup(dir); err != nil {
			return fmt.Errorf("%s: %w", h.name, err)
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("%s: cgroup: %w", h.name, err)
		}
	}
	// CRITICAL (test-hosts.md): nspawn and the systemd it boots must not
	// start in a root cgroup, or systemd takes over the whole machine's
	// processes. The shell joins the host's cgroups, then becomes nspawn.
	script := "for f in"
	for _, dir := range dirs {
		script += " '" + dir + "/cgroup.procs'"
	}
	script += `; do echo $$ > "$f" || exit 125; done; exec "$@"`
	args := []string{"-c", script, "sh", "systemd-nspawn",
		"-D", h.lab.rootfs, "-b", "--register=no", "--keep-unit", "-M", h.name,
		"--network-namespace-path=/run/netns/" + h.lab.net.Namespace(h.i),
		"--console=read-only", "--volatile=overlay"}
	cmd := exec.Command("/bin/sh", append(args, h.args...)...)
	logf, err := os.OpenFile(h.ConsoleLog(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// SIGTERM when the test binary dies without cleanup (timeout): nspawn
	// then powers the container off. Own group: a ^C to `go test` is the
	// test binary's to handle.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("%s: start nspawn: %w", h.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	h.mu.Lock()
	h.cmd, h.done, h.leader, h.booted = cmd, done, 0, false
	h.mu.Unlock()

	// The container's init is nspawn's child in a new pid namespace; it
	// appears within milliseconds on an idle machine, seconds on a loaded
	// one. Its own bound, not BootTimeout: the boot is what BootTimeout
	// bounds (a short one must fail in the boot, with a half-booted
	// container to clean up, not here).
	deadline := time.Now().Add(max(h.lab.opts.BootTimeout, initTimeout))
	for {
		if pid := findLeader(cmd.Process.Pid); pid > 0 {
			h.mu.Lock()
			h.leader = pid
			h.mu.Unlock()
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%s: systemd-nspawn exited: %v\nconsole:\n%s", h.name, cmd.ProcessState, tail(h.ConsoleLog(), 25))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no container init under nspawn pid %d after %v", h.name, cmd.Process.Pid, max(h.lab.opts.BootTimeout, initTimeout))
		}
	}
}

// initTimeout bounds how long nspawn may take to start the container's init.
const initTimeout = 30 * time.Second

// findLeader is the child of nspawn that is pid 1 of its own pid namespace.
func findLeader(nspawn int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", nspawn, nspawn))
	if err != nil {
		return 0
	}
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err == nil && isNSInit(pid) {
			return pid
		}
	}
	return 0
}

// isNSInit reports whether pid is alive and pid 1 of a nested namespace.
func isNSInit(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "State:"); ok && strings.HasPrefix(strings.TrimSpace(v), "Z") {
			return false
		}
		if v, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(v)
			return len(f) >= 2 && f[len(f)-1] == "1"
		}
	}
	return false
}

// WaitBooted waits until systemd inside has finished booting and reports
// running or degraded (failed units are logged). Any other state, or the
// container exiting, is an error.
func (h *Host) WaitBooted(ctx context.Context) error {
	done := h.Done()
	var last error
	for {
		out, err := h.Systemctl(ctx, "is-system-running", "--wait")
		state := strings.TrimSpace(string(out))
		if i := strings.LastIndexByte(state, '\n'); i >= 0 {
			state = state[i+1:]
		}
		switch state {
		case "running":
			return nil
		case "degraded":
			failed, _ := h.Systemctl(ctx, "list-units", "--failed", "--no-legend", "--plain")
			h.lab.t.Logf("nspawnlab: %s is degraded; failed units:\n%s", h.name, failed)
			return nil
		case "maintenance", "stopping":
			return fmt.Errorf("system state %s", state)
		}
		// Until systemd listens on its private socket (nspawn's child has
		// not even become systemd yet), systemctl says "offline" or cannot
		// connect: try again.
		last = err
		select {
		case <-done:
			return fmt.Errorf("container exited while booting (last: %v)", last)
		case <-ctx.Done():
			return fmt.Errorf("not booted: %w (last: %v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Command returns a command that runs args inside the container (all its
// namespaces, a clean environment); the caller may set Stdin, Stdout, ...
// Canceling ctx kills it, including what nsenter forked inside.
func (h *Host) Command(ctx context.Context, args ...string) *exec.Cmd {
	leader := h.Leader()
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(leader), "-a", "--", "/usr/bin/env", "-i"},
		append(append([]string(nil), containerEnv...), args...)...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A daemon started in the background must not keep Output waiting.
	cmd.WaitDelay = 2 * time.Second
	if leader == 0 {
		cmd.Err = fmt.Errorf("nspawnlab: %s is not running", h.name)
	}
	return cmd
}

// Exec runs args inside the container and returns the combined output;
// the error includes the output.
func (h *Host) Exec(ctx context.Context, args ...string) ([]byte, error) {
	return h.run(ctx, nil, args...)
}

func (h *Host) run(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	if len(args) == 0 {
		return nil, errors.New("nspawnlab: Exec needs a command")
	}
	cmd := h.Command(ctx, args...)
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: %s: %w: %s", h.name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// Systemctl runs systemctl inside with args.
func (h *Host) Systemctl(ctx context.Context, args ...string) ([]byte, error) {
	return h.Exec(ctx, append([]string{"systemctl"}, args...)...)
}

// WriteFile writes data to path inside the container, creating parent
// directories. It goes through a shell inside so that symlinks such as
// /var/run -> /run resolve in the container, not on this machine.
func (h *Host) WriteFile(path string, data []byte, mode os.FileMode) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("nspawnlab: WriteFile %q: want an absolute path", path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := h.run(ctx, bytes.NewReader(data), "/bin/sh", "-c",
		`mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1"`, "sh", path, strconv.FormatUint(uint64(mode.Perm()), 8))
	return err
}

// ReadFile reads path inside the container.
func (h *Host) ReadFile(path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := h.Command(ctx, "cat", "--", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: read %s: %w: %s", h.name, path, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// Stop powers the container off cleanly (SIGTERM to nspawn, which asks
// systemd to shut down) and kills it if that takes over 10 s. A host still
// booting is killed at once: systemd ignores the request until it has
// installed its signal handlers. Stopping a stopped host is a no-op.
func (h *Host) Stop() error {
	h.mu.Lock()
	cmd, done, booted := h.cmd, h.done, h.booted
	h.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if !booted {
		h.Kill()
		return nil
	}
	select {
	case <-done:
	default:
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(stopGrace):
			h.Kill()
			return fmt.Errorf("nspawnlab: %s did not power off within %v; killed", h.name, stopGrace)
		}
	}
	h.reap()
	return nil
}

// Kill ends the container at once, as if the host lost power: SIGKILL to
// its init (the kernel kills everything in its pid namespace), then to
// nspawn and anything left in the host's cgroups.
func (h *Host) Kill() {
	h.mu.Lock()
	cmd, done, leader := h.cmd, h.done, h.leader
	h.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
	default:
		if leader > 0 && isNSInit(leader) {
			_ = syscall.Kill(leader, syscall.SIGKILL)
		}
		// nspawn notices and exits by itself, reaping the init; a zombie
		// left to this machine's pid 1 may never be reaped.
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	h.reap()
}

// reap kills whatever is left in the host's cgroups once nspawn is gone.
func (h *Host) reap() {
	for _, dir := range h.cgroupDirs() {
		killCgroup(dir)
	}
	h.mu.Lock()
	h.leader, h.booted = 0, false
	h.mu.Unlock()
}

// cgroupDirs are the host's cgroups, one per hierarchy; nil before the
// first boot.
func (h *Host) cgroupDirs() []string {
	h.mu.Lock()
	made := h.made
	h.mu.Unlock()
	if !made {
		return nil
	}
	var dirs []string
	for _, hr := range h.lab.hier {
		dirs = append(dirs, hr.dir(h.name))
	}
	return dirs
}

// tail is the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
