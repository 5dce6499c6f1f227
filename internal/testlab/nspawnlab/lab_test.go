package nspawnlab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// echoUnits make host i answer every TCP connection to its address with
// one line, by socket activation: minbase has no nc or socat.
func echoUnits(t *testing.T, h *Host) {
	t.Helper()
	files := map[string]string{
		"/etc/systemd/system/kuma-echo.socket": "[Socket]\nListenStream=" + h.Addr() + ":7000\nFreeBind=yes\nAccept=yes\n",
		"/etc/systemd/system/kuma-echo@.service": "[Service]\nExecStart=/bin/echo hello from %H\n" +
			"StandardInput=socket\nStandardOutput=socket\n",
	}
	for p, body := range files {
		if err := h.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := ctxT(t, 30*time.Second)
	if _, err := h.Systemctl(ctx, "daemon-reload"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Systemctl(ctx, "start", "kuma-echo.socket"); err != nil {
		t.Fatal(err)
	}
}

// dial connects from h to addr:7000 with bash's /dev/tcp.
func dial(ctx context.Context, h *Host, addr string) (string, error) {
	out, err := h.Exec(ctx, "timeout", "3", "bash", "-c", "exec 3<>/dev/tcp/"+addr+"/7000; cat <&3")
	return strings.TrimSpace(string(out)), err
}

func TestHostsBootTalkAndRunUnits(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "marker"), []byte("built\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := New(t, 2, Options{BindRO: map[string]string{bin: "/opt/kuma-test"}})
	ctx := ctxT(t, 2*time.Minute)

	ids := map[string]bool{}
	for _, h := range l.Hosts() {
		out, err := h.Systemctl(ctx, "is-system-running")
		if s := strings.TrimSpace(string(out)); s != "running" && s != "degraded" {
			t.Fatalf("%s: state %q: %v", h.Name(), s, err)
		}
		out, err = h.Exec(ctx, "sh", "-c", "hostname; cat /etc/machine-id; ip -4 -o addr show dev eth0; cat /opt/kuma-test/marker")
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(f) != 4 || f[0] != h.Name() || !strings.Contains(f[2], " "+h.Addr()+"/24 ") || f[3] != "built" {
			t.Fatalf("%s: hostname, machine-id, eth0, marker:\n%s", h.Name(), out)
		}
		ids[f[1]] = true
		if out, err := h.Exec(ctx, "touch", "/opt/kuma-test/x"); err == nil {
			t.Errorf("%s: wrote into the read-only bind: %s", h.Name(), out)
		}
	}
	if len(ids) != 2 {
		t.Errorf("hosts share a machine-id: %v", ids)
	}

	// Host 1 reaches host 2 over the switch; cut off, it does not.
	h1, h2 := l.Host(1), l.Host(2)
	echoUnits(t, h2)
	if got, err := dial(ctx, h1, h2.Addr()); err != nil || got != "hello from "+h2.Name() {
		t.Fatalf("host 1 -> host 2: %q %v", got, err)
	}
	if err := l.CutOff(2); err != nil {
		t.Fatal(err)
	}
	if got, err := dial(ctx, h1, h2.Addr()); err == nil {
		t.Fatalf("host 2 is cut off, yet host 1 got %q", got)
	}
	if err := l.Heal(2); err != nil {
		t.Fatal(err)
	}
	if got, err := dial(ctx, h1, h2.Addr()); err != nil || got != "hello from "+h2.Name() {
		t.Fatalf("after heal: %q %v", got, err)
	}

	// go-systemd over each container's own bus, both connections open at once.
	var wg sync.WaitGroup
	for _, h := range l.Hosts() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := transientUnit(ctx, t, h); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

// transientUnit lists units and runs a transient oneshot over D-Bus.
func transientUnit(ctx context.Context, t *testing.T, h *Host) error {
	start := time.Now()
	conn, err := DialSystemd(ctx, h.DBusAddress())
	if err != nil {
		return err
	}
	defer conn.Close()
	units, err := conn.ListUnitsContext(ctx)
	if err != nil {
		return err
	}
	t.Logf("%s: D-Bus dial + ListUnits: %v, %d units", h.Name(), time.Since(start).Round(time.Millisecond), len(units))
	dbusActive := false
	for _, u := range units {
		dbusActive = dbusActive || (u.Name == "dbus.service" && u.ActiveState == "active")
	}
	if !dbusActive {
		return fmt.Errorf("%s: dbus.service not active in %d units", h.Name(), len(units))
	}
	ch := make(chan string, 1)
	props := []sdbus.Property{
		sdbus.PropType("oneshot"),
		sdbus.PropRemainAfterExit(true),
		sdbus.PropExecStart([]string{"/bin/sh", "-c", "echo $(hostname) > /run/kuma-probe"}, false),
	}
	if _, err := conn.StartTransientUnitContext(ctx, "kuma-probe.service", "replace", props, ch); err != nil {
		return err
	}
	select {
	case res := <-ch:
		if res != "done" {
			return fmt.Errorf("%s: transient unit: %s", h.Name(), res)
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	b, err := h.ReadFile("/run/kuma-probe")
	if err != nil || strings.TrimSpace(string(b)) != h.Name() {
		return fmt.Errorf("%s: probe wrote %q: %v", h.Name(), b, err)
	}
	return nil
}

func TestWrittenUnitStopKillAndBootAgain(t *testing.T) {
	t.Parallel()
	l := New(t, 2, Options{})
	ctx := ctxT(t, 2*time.Minute)
	h1, h2 := l.Host(1), l.Host(2)

	unit := "[Service]\nExecStart=/bin/sleep infinity\n"
	if err := h1.WriteFile("/etc/systemd/system/kuma-test.service", []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := h1.ReadFile("/etc/systemd/system/kuma-test.service"); err != nil || string(b) != unit {
		t.Fatalf("read back %q: %v", b, err)
	}
	// Through the container's symlink /var/run -> /run, not this machine's.
	if err := h1.WriteFile("/var/run/kuma/x.conf", []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := h1.Exec(ctx, "stat", "-c", "%a %s", "/run/kuma/x.conf"); err != nil || strings.TrimSpace(string(out)) != "600 1" {
		t.Fatalf("stat: %s %v", out, err)
	}
	for _, args := range [][]string{{"daemon-reload"}, {"start", "kuma-test.service"}} {
		if _, err := h1.Systemctl(ctx, args...); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := h1.Systemctl(ctx, "is-active", "kuma-test.service"); err != nil {
		t.Fatalf("%s %v", out, err)
	}

	start := time.Now()
	if err := h1.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("clean stop took %v", time.Since(start).Round(time.Millisecond))
	if h1.Leader() != 0 {
		t.Error("stopped host still has a leader")
	}
	if _, err := h1.Exec(ctx, "true"); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("Exec on a stopped host: %v", err)
	}

	leader := h2.Leader()
	start = time.Now()
	h2.Kill()
	t.Logf("kill took %v", time.Since(start).Round(time.Millisecond))
	if isNSInit(leader) {
		t.Errorf("killed host's init %d lives", leader)
	}
	// Host 1 does not see the dead host.
	if err := h1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := h1.Exec(ctx, "test", "!", "-e", "/etc/systemd/system/kuma-test.service"); err != nil {
		t.Errorf("a new boot starts from the pristine rootfs: %v", err)
	}
	if got, err := dial(ctx, h1, h2.Addr()); err == nil {
		t.Errorf("host 2 was killed, yet host 1 got %q", got)
	}
}

// cleanupTB collects cleanups so the test can run them and look at what
// remains. Fatal and Skip end only the goroutine New runs in, as they
// would end a test.
type cleanupTB struct {
	testing.TB
	mu      sync.Mutex
	fns     []func()
	failed  []string
	skipped string
}

// Skip records why New skipped (no root, a tool or the rootfs missing):
// the test skips with that reason in its own goroutine (skipIf).
func (c *cleanupTB) Skip(args ...any) {
	c.mu.Lock()
	c.skipped = fmt.Sprint(args...)
	c.mu.Unlock()
	runtime.Goexit()
}

// skipIf skips t, in t's goroutine, if New skipped.
func (c *cleanupTB) skipIf(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	why := c.skipped
	c.mu.Unlock()
	if why != "" {
		t.Skip(why)
	}
}

func (c *cleanupTB) Cleanup(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fns = append(c.fns, f)
}

func (c *cleanupTB) Fatalf(format string, args ...any) {
	c.mu.Lock()
	c.failed = append(c.failed, fmt.Sprintf(format, args...))
	c.mu.Unlock()
	runtime.Goexit()
}

func (c *cleanupTB) runCleanups() {
	c.mu.Lock()
	fns := c.fns
	c.fns = nil
	c.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// newIn runs New in a goroutine of its own, so that a failing New ends
// only that goroutine; it returns the lab, or nil if New failed. If New
// skipped, t skips.
func newIn(t *testing.T, tb *cleanupTB, n int, o Options) *Lab {
	t.Helper()
	ch := make(chan *Lab, 1)
	go func() {
		defer close(ch)
		ch <- New(tb, n, o)
	}()
	l := <-ch
	tb.skipIf(t)
	return l
}

// leftovers lists what remains of the lab with this prefix: nspawn
// processes, cgroups, namespaces and live processes among pids.
func leftovers(t *testing.T, prefix string, pids []int) []string {
	var left []string
	for _, p := range nspawnProcs() {
		if strings.HasPrefix(p.machine, prefix) {
			left = append(left, fmt.Sprintf("nspawn pid %d (%s)", p.pid, p.machine))
		}
	}
	hier, err := hierarchies()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hier {
		for _, parent := range []string{filepath.Join(h.mount, h.self), h.mount} {
			m, _ := filepath.Glob(filepath.Join(parent, prefix+"*"))
			left = append(left, m...)
		}
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, prefix) {
			left = append(left, "netns "+line)
		}
	}
	for _, pid := range pids {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			if i := strings.LastIndexByte(string(b), ')'); i > 0 && !strings.HasPrefix(string(b[i+1:]), " Z") {
				left = append(left, fmt.Sprintf("pid %d", pid))
			}
		}
	}
	return left
}

func TestCleanupLeavesNothing(t *testing.T) {
	t.Parallel()
	tb := &cleanupTB{TB: t}
	defer tb.runCleanups() // if an assertion fails first
	l := newIn(t, tb, 2, Options{})
	if l == nil {
		t.Fatalf("New: %v", tb.failed)
	}
	var pids []int
	for _, h := range l.Hosts() {
		pids = append(pids, h.Leader(), h.cmd.Process.Pid)
	}
	prefix := l.Prefix() + "-"
	if left := leftovers(t, prefix, pids); len(left) < 2*3+1+4 {
		t.Fatalf("a running lab should show its nspawns, cgroups, namespaces and pids: %v", left)
	}
	tb.runCleanups()
	if left := leftovers(t, prefix, pids); len(left) > 0 {
		t.Fatalf("left after cleanup: %v", left)
	}
}

func TestBootFailingHalfwayIsCleanedUp(t *testing.T) {
	t.Parallel()
	tb := &cleanupTB{TB: t}
	defer tb.runCleanups()
	// Too short to boot: nspawn runs, systemd is mid-boot when New gives up.
	if l := newIn(t, tb, 2, Options{BootTimeout: 300 * time.Millisecond}); l != nil {
		t.Fatal("New succeeded with a 300 ms boot timeout")
	}
	if len(tb.failed) != 1 || !strings.Contains(tb.failed[0], "not booted") {
		t.Fatalf("New failed with %q", tb.failed)
	}
	m := regexp.MustCompile(`(kl[0-9a-z]+-[0-9a-z]+)-h[0-9]+: `).FindStringSubmatch(tb.failed[0])
	if m == nil {
		t.Fatalf("no host name in %q", tb.failed[0])
	}
	prefix := m[1]
	if left := leftovers(t, prefix+"-", nil); len(left) == 0 {
		t.Fatal("the half-booted containers are gone before cleanup: nothing was tested")
	}
	tb.runCleanups()
	if left := leftovers(t, prefix+"-", nil); len(left) > 0 {
		t.Fatalf("left after cleanup: %v", left)
	}
}

func TestSweepRemovesLeftovers(t *testing.T) {
	t.Parallel()
	tb := &cleanupTB{TB: t}
	defer tb.runCleanups()
	l := newIn(t, tb, 1, Options{})
	if l == nil {
		t.Fatalf("New: %v", tb.failed)
	}
	pids := []int{l.Host(1).Leader()}
	if err := Sweep(l.Prefix() + "-"); err != nil {
		t.Fatal(err)
	}
	if left := leftovers(t, l.Prefix()+"-", pids); len(left) > 0 {
		t.Fatalf("left after Sweep: %v", left)
	}
	if err := Sweep(""); err == nil {
		t.Error("Sweep with an empty prefix would remove every container")
	}
}
