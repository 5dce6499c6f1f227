package supervisor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/testlab/nspawnlab"
)

// These tests run the supervisor against a real systemd: a booted
// systemd-nspawn container (nspawnlab), a fake KUMA Core as its units.
// They need root and `make rootfs`; without them nspawnlab skips loudly.

const (
	sdCore      = "kuma-core-a.service"
	sdCollector = "kuma-collector-c.service"
)

// coreUnitFile is a Core unit that leaves crashes to the supervisor
// (Restart=no), with systemd's watchdog on.
func coreUnitFile(id string, port int) string {
	return fmt.Sprintf(`[Unit]
Description=fake KUMA Core %[1]s
[Service]
Type=notify
ExecStart=/opt/kuma-test/fake-kuma-core core --id %[1]s --raft.join seed.example:7209 --health 127.0.0.1:%[2]d --raft.node.listen 127.0.0.1:%[3]d
Restart=no
WatchdogSec=5s
`, id, port, port+1)
}

// collectorUnitFile restarts itself (Restart=on-failure) until its start
// limit, which is where the supervisor takes over.
const collectorUnitFile = `[Unit]
Description=fake KUMA collector
StartLimitIntervalSec=60
StartLimitBurst=3
[Service]
Type=notify
ExecStart=/opt/kuma-test/fake-kuma-core core --id c --raft.join seed.example:7209 --health 127.0.0.1:7308 --raft.node.listen 127.0.0.1:7309
Restart=on-failure
RestartSec=100ms
`

var (
	fakeCoreOnce sync.Once
	fakeCoreDir  string
	fakeCoreErr  error
)

// fakeCoreBin builds internal/testlab/fakecore once into a directory bound into
// the containers.
func fakeCoreBin(t *testing.T) string {
	t.Helper()
	fakeCoreOnce.Do(func() {
		fakeCoreDir, fakeCoreErr = os.MkdirTemp("", "kuma-fake-core-")
		if fakeCoreErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(fakeCoreDir, "fake-kuma-core"), "../internal/testlab/fakecore").CombinedOutput()
		if err != nil {
			fakeCoreErr = fmt.Errorf("go build fake-kuma-core: %v\n%s", err, out)
		}
	})
	if fakeCoreErr != nil {
		t.Fatal(fakeCoreErr)
	}
	return fakeCoreDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fakeCoreDir != "" {
		os.RemoveAll(fakeCoreDir)
	}
	os.Exit(code)
}

// sdHost is one booted container with the fake units installed and active.
type sdHost struct {
	h *nspawnlab.Host
}

func bootSystemd(t *testing.T) *sdHost {
	t.Helper()
	nspawnlab.Need(t) // before the build: skip (or fail in CI) at once
	dir := fakeCoreBin(t)
	lab := nspawnlab.New(t, 1, nspawnlab.Options{BindRO: map[string]string{dir: "/opt/kuma-test"}})
	h := &sdHost{h: lab.Host(1)}
	for name, body := range map[string]string{sdCore: coreUnitFile("a", 7208), sdCollector: collectorUnitFile} {
		if err := h.h.WriteFile("/etc/systemd/system/"+name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h.systemctl(t, "daemon-reload")
	h.systemctl(t, "start", sdCore, sdCollector)
	return h
}

func (h *sdHost) systemctl(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := h.h.Systemctl(ctx, args...)
	if err != nil {
		t.Fatalf("systemctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// show reads one unit property with systemctl (an independent reading of
// systemd, not the supervisor's).
func (h *sdHost) show(t *testing.T, unit, prop string) string {
	return h.systemctl(t, "show", "-p", prop, "--value", unit)
}

func (h *sdHost) fault(t *testing.T, id, word string) {
	t.Helper()
	if err := h.h.WriteFile("/var/lib/fake-kuma-core/"+id+"/fault", []byte(word), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (h *sdHost) waitActive(t *testing.T, unit string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if st := h.show(t, unit, "ActiveState"); st == "active" {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("%s is %s after %s, want active", unit, st, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runSupervisor runs a supervisor on the container's systemd.
func (h *sdHost) runSupervisor(t *testing.T, policy Backoff) (*Supervisor, *eventLog) {
	t.Helper()
	ev := &eventLog{}
	s := runInBackground(t, Options{
		Node: "core-1", Backend: &Systemd{Address: h.h.DBusAddress(), Resync: 5 * time.Second}, Policy: policy,
		Selection: Select(DefaultRules, cluster.Roles{cluster.RoleCore, cluster.RoleCollector}, cluster.LayoutDistributed),
		Guard:     Guard{Hosts: []string{"core-1"}, Groups: map[Group][]string{GroupRaft: {"core-1"}}},
		Peers:     func() []Peer { return []Peer{{Name: "core-1", Alive: true, Healthy: true}} },
		Emit:      ev.emit, HealTimeout: 20 * time.Second, RetryRefused: 200 * time.Millisecond,
	})
	eventually(t, "both units seen running", func() bool {
		n := 0
		for _, u := range s.Units() {
			if u.Condition == "running" {
				n++
			}
		}
		return n == 2
	})
	return s, ev
}

// subStates counts the unit.state_changed events of unit with sub-state sub.
func (l *eventLog) subStates(unit, sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.evs {
		if d, ok := e.data.(events.UnitData); ok && d.Unit == unit && d.SubState == sub {
			n++
		}
	}
	return n
}

// startedFor lists the healing.started events of unit, in order.
func (l *eventLog) startedFor(unit string) []events.HealingData {
	var out []events.HealingData
	for _, r := range l.started(unit) {
		out = append(out, r.data.(events.HealingData))
	}
	return out
}

func (l *eventLog) started(unit string) []recorded { return l.healing(events.HealingStarted, unit) }

// finishedFor lists the healing.finished events of unit, in order: the
// supervisor emits one when its heal is over (the unit read active by
// the supervisor itself, or the heal failed).
func (l *eventLog) finishedFor(unit string) []events.HealingData {
	var out []events.HealingData
	for _, r := range l.healing(events.HealingFinished, unit) {
		out = append(out, r.data.(events.HealingData))
	}
	return out
}

func (l *eventLog) healing(typ events.Type, unit string) []recorded {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []recorded
	for _, e := range l.evs {
		if d, ok := e.data.(events.HealingData); ok && e.t == typ && d.Unit == unit {
			out = append(out, e)
		}
	}
	return out
}

// unitCondition is the supervisor's own reading of unit ("" if unseen).
func unitCondition(s *Supervisor, unit string) string {
	for _, u := range s.Units() {
		if u.Unit == unit {
			return u.Condition
		}
	}
	return ""
}

func eventuallyWithin(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSystemdCrashIsRestartedWithBackoff(t *testing.T) {
	h := bootSystemd(t)
	policy := Backoff{Initial: time.Second, Max: 4 * time.Second, Window: time.Minute, MaxAttempts: 10, Rand: func() float64 { return 0.5 }}
	_, ev := h.runSupervisor(t, policy)

	for i := 1; i <= 3; i++ {
		pid := h.show(t, sdCore, "MainPID")
		h.fault(t, "a", "crash")
		// Wait for the supervisor to say its heal is over (healing.finished),
		// not for systemd to say the unit is active: systemd reports active
		// a moment before the supervisor reads it and emits the event, so a
		// test that waits for systemd and then counts events races the
		// supervisor (and may crash the unit again mid-heal).
		eventuallyWithin(t, fmt.Sprintf("heal %d finished", i), 30*time.Second, func() bool { return len(ev.finishedFor(sdCore)) >= i })
		if n := len(ev.startedFor(sdCore)); n != i {
			t.Fatalf("crash %d: %d healing.started events, want %d", i, n, i)
		}
		if f := ev.finishedFor(sdCore)[i-1]; f.Result != "active" || f.Attempt != i {
			t.Fatalf("crash %d: healing.finished %+v, want attempt %d and the unit active", i, f, i)
		}
		// An independent reading of systemd agrees.
		h.waitActive(t, sdCore, 20*time.Second)
		if h.show(t, sdCore, "MainPID") == pid {
			t.Fatalf("crash %d: same MainPID %s: not restarted", i, pid)
		}
		d := ev.startedFor(sdCore)[i-1]
		if d.Attempt != i || !strings.Contains(d.Reason, "failed") {
			t.Errorf("restart %d: %+v", i, d)
		}
		t.Logf("crash %d: reaction %.1f ms", i, d.ReactionMS)
	}
	// Attempts 2 and 3 waited the backoff (1 s, then 2 s) after the one
	// before: a lower bound the policy enforces, not a speed. (The attempt
	// is recorded a moment after its event: 5 ms of slack.)
	starts := ev.started(sdCore)
	for i, want := range []time.Duration{time.Second, 2 * time.Second} {
		if gap := starts[i+1].at.Sub(starts[i].at); gap < want-5*time.Millisecond {
			t.Errorf("attempt %d came %s after attempt %d, want at least %s", i+2, gap, i+1, want)
		}
	}
	if n := ev.count(events.HealingFinished); n != 3 {
		t.Errorf("%d healing.finished events, want 3", n)
	}
}

func TestSystemdCrashLoopGivesUp(t *testing.T) {
	h := bootSystemd(t)
	policy := Backoff{Initial: 200 * time.Millisecond, Max: time.Second, Window: time.Minute, MaxAttempts: 3}
	s, ev := h.runSupervisor(t, policy)
	h.fault(t, "a", "crash-always")
	eventuallyWithin(t, "giving up", 30*time.Second, func() bool { return ev.count(events.HealingRefused) == 1 })
	if n := len(ev.startedFor(sdCore)); n != 3 {
		t.Fatalf("%d attempts before giving up, want 3", n)
	}
	if st := h.show(t, sdCore, "ActiveState"); st != "failed" {
		t.Fatalf("unit %s after giving up, want failed", st)
	}
	r := s.Check().Run(context.Background())
	if r.Status.String() != "crit" || !strings.Contains(r.Remedy, "journalctl -u "+sdCore) {
		t.Errorf("units check after giving up: %+v", r)
	}
	// The operator fixes and starts it: healing is re-armed.
	h.fault(t, "a", "")
	h.systemctl(t, "reset-failed", sdCore)
	h.systemctl(t, "start", sdCore)
	eventuallyWithin(t, "re-armed", 10*time.Second, func() bool {
		u := s.Units()
		return slices.ContainsFunc(u, func(x UnitStatus) bool { return x.Unit == sdCore && x.Condition == "running" && !x.GaveUp })
	})
}

func TestSystemdStartLimitIsHandled(t *testing.T) {
	h := bootSystemd(t)
	policy := Backoff{Initial: 2 * time.Second, Max: 2 * time.Second, Window: time.Minute, MaxAttempts: 5}
	_, ev := h.runSupervisor(t, policy)
	h.fault(t, "c", "crash-always")
	// systemd's Restart= retries first (three times in 60 s), then gives up
	// with start-limit-hit; only then does the supervisor act.
	eventuallyWithin(t, "the supervisor's first attempt", 30*time.Second, func() bool { return len(ev.startedFor(sdCollector)) >= 1 })
	if d := ev.startedFor(sdCollector)[0]; !strings.Contains(d.Reason, "start-limit") || !strings.Contains(d.Reason, "after 3 automatic restarts") {
		t.Fatalf("first attempt reason %q, want the start limit after systemd's 3 restarts", d.Reason)
	}
	// It watched systemd's own restarts without acting on them (signals
	// coalesce, so not every one of the three is seen).
	if n := ev.subStates(sdCollector, "auto-restart"); n < 1 {
		t.Fatal("never saw systemd's auto-restart before acting")
	}
	// The cause is fixed: the unit comes back, by the agent's next attempt
	// or by Restart= (re-armed by the agent's reset-failed) if the fix
	// landed during an attempt.
	h.fault(t, "c", "")
	h.waitActive(t, sdCollector, 30*time.Second)
	eventuallyWithin(t, "healing.finished", 10*time.Second, func() bool {
		d, ok := ev.last(events.HealingFinished)
		return ok && d.Unit == sdCollector
	})
}

func TestSystemdOperatorStopIsRespected(t *testing.T) {
	h := bootSystemd(t)
	s, ev := h.runSupervisor(t, Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Window: time.Minute, MaxAttempts: 5})
	h.systemctl(t, "stop", sdCore)
	// The supervisor saw the stop (else the wait below proves nothing),
	// then had ten times the reaction target to act on it, and must not.
	eventuallyWithin(t, "the supervisor to see the stop", 20*time.Second, func() bool { return unitCondition(s, sdCore) == "stopped" })
	time.Sleep(2 * time.Second)
	if st := h.show(t, sdCore, "ActiveState"); st != "inactive" {
		t.Fatalf("operator-stopped unit is %s, want inactive", st)
	}
	if n := len(ev.startedFor(sdCore)); n != 0 {
		t.Fatalf("%d starts of an operator-stopped unit", n)
	}
}

func TestSystemdDaemonReexecAndBusRestartCauseNoRestart(t *testing.T) {
	h := bootSystemd(t)
	s, ev := h.runSupervisor(t, Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Window: time.Minute, MaxAttempts: 5})
	pids := map[string]string{sdCore: h.show(t, sdCore, "MainPID"), sdCollector: h.show(t, sdCollector, "MainPID")}
	for i := 0; i < 3; i++ {
		h.systemctl(t, "daemon-reexec")
		h.systemctl(t, "daemon-reload")
	}
	time.Sleep(3 * time.Second)
	for u, pid := range pids {
		if now := h.show(t, u, "MainPID"); now != pid {
			t.Errorf("%s: MainPID %s -> %s across daemon-reexec", u, pid, now)
		}
	}
	if n := ev.count(events.HealingStarted) + ev.count(events.HealingProposed); n != 0 {
		t.Fatalf("%d healing actions across daemon-reexec, want 0", n)
	}
	// The bus itself restarts: the watch loses its connection (units
	// unknown, no action) and reconnects.
	h.systemctl(t, "restart", "dbus.service")
	time.Sleep(2 * time.Second)
	for u, pid := range pids {
		if now := h.show(t, u, "MainPID"); now != pid {
			t.Errorf("%s: MainPID %s -> %s across a D-Bus restart", u, pid, now)
		}
	}
	if n := ev.count(events.HealingStarted); n != 0 {
		t.Fatalf("%d healing actions across a D-Bus restart, want 0", n)
	}
	// The watch survived both: a crash now is still healed.
	eventuallyWithin(t, "units readable again", 20*time.Second, func() bool {
		for _, u := range s.Units() {
			if u.Condition != "running" {
				return false
			}
		}
		return true
	})
	h.fault(t, "a", "crash")
	eventuallyWithin(t, "restart after re-exec", 30*time.Second, func() bool { return len(ev.startedFor(sdCore)) == 1 })
	h.waitActive(t, sdCore, 20*time.Second)
}

// The supervisor reads each KUMA unit's own command line over D-Bus (the
// Service interface's ExecStart): listeners and Raft flags as the unit
// gives them, no assumed port.
func TestSystemdReadsTheUnitsCommandLine(t *testing.T) {
	h := bootSystemd(t)
	s, _ := h.runSupervisor(t, Backoff{Initial: time.Second, Max: time.Second, Window: time.Minute, MaxAttempts: 1})
	var core, col *UnitStatus
	for _, u := range s.Units() {
		switch u.Unit {
		case sdCore:
			core = &u
		case sdCollector:
			col = &u
		}
	}
	if core == nil || core.Exec == nil || col == nil || col.Exec == nil {
		t.Fatalf("units without their command line: core %+v, collector %+v", core, col)
	}
	if l, ok := core.Exec.Listener("health"); !ok || l.Addr != "127.0.0.1:7208" {
		t.Errorf("core --health = %+v %v, want 127.0.0.1:7208 as its unit says", l, ok)
	}
	if v, _ := core.Exec.Value("raft.join"); v != "seed.example:7209" || core.Exec.ID() != "a" || core.Exec.Binary != "/opt/kuma-test/fake-kuma-core" {
		t.Errorf("core command line %+v", core.Exec)
	}
	if l, ok := col.Exec.Listener("raft.node.listen"); !ok || l.Port != 7309 {
		t.Errorf("collector listener %+v %v", l, ok)
	}
	if e := s.RaftCoreExec(); e == nil || e.ID() != "a" {
		t.Errorf("RaftCoreExec = %+v", e)
	}
	if u, err := HealthURL("", "/health", s.RaftCoreExec()); err != nil || u != "http://127.0.0.1:7208/health" {
		t.Errorf("health URL from the unit: %q %v", u, err)
	}
	// systemctl's own reading agrees.
	if got := h.show(t, sdCore, "ExecStart"); !strings.Contains(got, "--health 127.0.0.1:7208") {
		t.Errorf("systemctl show ExecStart: %s", got)
	}
	// Restart (a hung Core, opt-in) makes a new process.
	pid := h.show(t, sdCore, "MainPID")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := (&Systemd{Address: h.h.DBusAddress()}).Restart(ctx, sdCore); err != nil {
		t.Fatal(err)
	}
	if now := h.show(t, sdCore, "MainPID"); now == pid || now == "0" || h.show(t, sdCore, "ActiveState") != "active" {
		t.Errorf("after Restart: MainPID %s (was %s), %s", now, pid, h.show(t, sdCore, "ActiveState"))
	}
}
