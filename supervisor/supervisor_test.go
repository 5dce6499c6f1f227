package supervisor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/events"
)

const coreUnit = "kuma-core-00000000-0000-0000-0000-000000000000.service"

type harness struct {
	be  *fakeBackend
	ev  *eventLog
	sup *Supervisor
}

func start(t *testing.T, be *fakeBackend, mod func(*Options)) *harness {
	t.Helper()
	ev := &eventLog{}
	o := Options{
		Node: "core-1", Backend: be, Policy: testPolicy(),
		Selection: Select(DefaultRules, cluster.Roles{cluster.RoleCore, cluster.RoleCollector}, cluster.LayoutDistributed),
		Guard:     Guard{Hosts: []string{"core-1"}, Groups: map[Group][]string{GroupRaft: {"core-1"}}},
		Peers:     func() []Peer { return []Peer{{Name: "core-1", Alive: true, Healthy: true}} },
		Emit:      ev.emit, HealTimeout: 2 * time.Second, RetryRefused: 20 * time.Millisecond,
	}
	if mod != nil {
		mod(&o)
	}
	return &harness{be: be, ev: ev, sup: runInBackground(t, o)}
}

// runInBackground makes a supervisor and runs it until the test ends.
func runInBackground(t *testing.T, o Options) *Supervisor {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("supervisor Run: %v", err)
		}
	})
	return s
}

func TestFailedUnitIsStarted(t *testing.T) {
	h := start(t, newFakeBackend(failedUnit("kuma-collector-1.service", "exit-code")), nil)
	eventually(t, "a start", func() bool { return h.be.startCount() == 1 })
	eventually(t, "healing.finished", func() bool { return h.ev.count(events.HealingFinished) == 1 })
	d, _ := h.ev.last(events.HealingStarted)
	if d.Unit != "kuma-collector-1.service" || d.Action != "restart" || d.Attempt != 1 || d.ReactionMS <= 0 {
		t.Errorf("healing.started data = %+v", d)
	}
	f, _ := h.ev.last(events.HealingFinished)
	if f.Result != "active" {
		t.Errorf("healing.finished result %q, want active", f.Result)
	}
}

func TestUnsupervisedUnitsAreIgnored(t *testing.T) {
	// storage is not this node's role: its failed unit is not ours to heal.
	h := start(t, newFakeBackend(failedUnit("kuma-storage-1.service", "exit-code"), failedUnit("kuma-collector-1.service", "exit-code")), nil)
	eventually(t, "collector started", func() bool { return h.be.startCount() == 1 })
	time.Sleep(100 * time.Millisecond)
	if h.be.starts[0] != "kuma-collector-1.service" || h.be.startCount() != 1 {
		t.Fatalf("starts = %v, want only the collector", h.be.starts)
	}
}

func TestStartLimitHitIsHandled(t *testing.T) {
	h := start(t, newFakeBackend(failedUnit("kuma-collector-1.service", "start-limit-hit")), nil)
	eventually(t, "a start", func() bool { return h.be.startCount() == 1 })
	d, _ := h.ev.last(events.HealingStarted)
	if !strings.Contains(d.Reason, "start-limit") {
		t.Errorf("reason %q does not name the start limit", d.Reason)
	}
}

func TestCrashLoopBacksOffThenGivesUp(t *testing.T) {
	be := newFakeBackend(failedUnit("kuma-collector-1.service", "exit-code"))
	be.startResult["kuma-collector-1.service"] = "failed"
	h := start(t, be, nil)
	eventually(t, "gave up", func() bool { return h.ev.count(events.HealingRefused) == 1 })
	if n := be.startCount(); n != testPolicy().MaxAttempts {
		t.Fatalf("%d starts before giving up, want %d", n, testPolicy().MaxAttempts)
	}
	d, _ := h.ev.last(events.HealingRefused)
	if !strings.Contains(d.Reason, "gave up after 4 attempts") || !strings.Contains(d.Reason, "systemctl reset-failed") {
		t.Errorf("refusal reason %q", d.Reason)
	}
	time.Sleep(300 * time.Millisecond) // longer than the largest backoff
	if n := be.startCount(); n != testPolicy().MaxAttempts {
		t.Fatalf("started again after giving up: %d starts", n)
	}
	st := h.sup.Units()
	if len(st) != 1 || !st[0].GaveUp || st[0].Attempts != 4 {
		t.Fatalf("status %+v", st)
	}
	// An operator fixes it: running again re-arms healing.
	be.startResult["kuma-collector-1.service"] = "active"
	be.set(UnitState{Name: "kuma-collector-1.service", LoadState: "loaded", ActiveState: "active", SubState: "running"})
	eventually(t, "re-armed", func() bool { u := h.sup.Units(); return len(u) == 1 && !u[0].GaveUp })
}

func TestOperatorStopIsLeftAlone(t *testing.T) {
	stopped := UnitState{Name: "kuma-collector-1.service", LoadState: "loaded", ActiveState: "inactive", SubState: "dead", Result: "success", UnitFileState: "enabled"}
	h := start(t, newFakeBackend(stopped), nil)
	eventually(t, "unit seen", func() bool { return len(h.sup.Units()) == 1 })
	time.Sleep(200 * time.Millisecond)
	if n := h.be.startCount(); n != 0 {
		t.Fatalf("an operator's stop was undone: %d starts", n)
	}
	// Configured otherwise, the enabled unit is started.
	h2 := start(t, newFakeBackend(stopped), func(o *Options) { o.StartStopped = true })
	eventually(t, "start", func() bool { return h2.be.startCount() == 1 })
}

func TestSystemdsOwnRestartIsNotFought(t *testing.T) {
	for _, st := range []UnitState{
		{Name: "kuma-collector-1.service", LoadState: "loaded", ActiveState: "activating", SubState: "auto-restart", Result: "exit-code"},
		{Name: "kuma-collector-2.service", LoadState: "loaded", ActiveState: "deactivating", SubState: "stop-sigterm"},
		{Name: "kuma-collector-3.service", LoadState: "loaded", ActiveState: "active", SubState: "running"},
	} {
		h := start(t, newFakeBackend(st), nil)
		eventually(t, "unit seen", func() bool { return len(h.sup.Units()) == 1 })
		time.Sleep(100 * time.Millisecond)
		if n := h.be.startCount(); n != 0 {
			t.Fatalf("%s/%s: %d starts", st.ActiveState, st.SubState, n)
		}
	}
}

func TestUnknownStateNeverActs(t *testing.T) {
	be := newFakeBackend()
	h := start(t, be, nil)
	be.updates <- Update{State: UnitState{Name: "kuma-collector-1.service"}, Err: errors.New("D-Bus reconnecting")}
	eventually(t, "unit seen", func() bool { u := h.sup.Units(); return len(u) == 1 && u[0].Condition == "unknown" })
	// A failed reading followed by an unreadable state at confirmation:
	// refused, never started.
	be.mu.Lock()
	be.stateErr = errors.New("org.freedesktop.DBus.Error.NoReply")
	be.mu.Unlock()
	be.set(failedUnit("kuma-collector-1.service", "exit-code"))
	eventually(t, "refusal", func() bool { return h.ev.count(events.HealingRefused) >= 1 })
	d, _ := h.ev.last(events.HealingRefused)
	if !strings.Contains(d.Reason, "unknown") {
		t.Errorf("reason %q", d.Reason)
	}
	if n := be.startCount(); n != 0 {
		t.Fatalf("acted on an unknown state: %d starts", n)
	}
	// Once readable, the failed unit is healed.
	be.mu.Lock()
	be.stateErr = nil
	be.mu.Unlock()
	eventually(t, "start", func() bool { return be.startCount() == 1 })
}

func TestDryRunProposesOnce(t *testing.T) {
	h := start(t, newFakeBackend(failedUnit("kuma-collector-1.service", "exit-code")), func(o *Options) { o.DryRun = true })
	eventually(t, "proposal", func() bool { return h.ev.count(events.HealingProposed) == 1 })
	time.Sleep(150 * time.Millisecond)
	if n, p := h.be.startCount(), h.ev.count(events.HealingProposed); n != 0 || p != 1 {
		t.Fatalf("dry-run: %d starts, %d proposals; want 0 and 1", n, p)
	}
	d, _ := h.ev.last(events.HealingProposed)
	if !d.DryRun || d.Action != "restart" {
		t.Errorf("proposal %+v", d)
	}
}

// quorumOpts makes a 3-node Raft cluster around core-1.
func quorumOpts(peers *[]Peer, locker Locker) func(*Options) {
	return func(o *Options) {
		o.Guard = Guard{Hosts: []string{"core-1", "core-2", "core-3"}, Groups: map[Group][]string{GroupRaft: {"core-1", "core-2", "core-3"}}}
		o.Peers = func() []Peer { return *peers }
		o.Locker = locker
	}
}

func TestQuorumUnitWaitsForTheLease(t *testing.T) {
	peers := []Peer{{Name: "core-1", Alive: true}, {Name: "core-2", Alive: true, Healthy: true}, {Name: "core-3", Alive: true, Healthy: true}}
	lk := &fakeLocker{node: "core-1", holder: "core-2"}
	h := start(t, newFakeBackend(failedUnit(coreUnit, "exit-code")), quorumOpts(&peers, lk))
	eventually(t, "refusal", func() bool { return h.ev.count(events.HealingRefused) >= 1 })
	d, _ := h.ev.last(events.HealingRefused)
	if !strings.Contains(d.Reason, "held by core-2") || d.Group != "raft" {
		t.Errorf("refusal %+v", d)
	}
	if h.be.startCount() != 0 {
		t.Fatal("started without the lease")
	}
	lk.mu.Lock()
	lk.holder = ""
	lk.mu.Unlock()
	eventually(t, "start under the lease", func() bool { return h.be.startCount() == 1 })
	eventually(t, "lease released", func() bool { lk.mu.Lock(); defer lk.mu.Unlock(); return lk.holder == "" && lk.grants == 1 })
}

func TestMinorityTakesNoQuorumAction(t *testing.T) {
	// core-1 sees the other two failed: it may be cut off; it must not act
	// even though it could get a lease.
	peers := []Peer{{Name: "core-1", Alive: true}, {Name: "core-2"}, {Name: "core-3"}}
	lk := &fakeLocker{node: "core-1"}
	h := start(t, newFakeBackend(failedUnit(coreUnit, "exit-code"), failedUnit("kuma-collector-1.service", "exit-code")), quorumOpts(&peers, lk))
	eventually(t, "refusal", func() bool { return h.ev.count(events.HealingRefused) >= 1 })
	d, _ := h.ev.last(events.HealingRefused)
	if !strings.Contains(d.Reason, "minority") {
		t.Errorf("reason %q", d.Reason)
	}
	// The collector (no quorum group) is still healed locally.
	eventually(t, "collector start", func() bool { return h.be.startCount() == 1 })
	time.Sleep(100 * time.Millisecond)
	if h.be.starts[0] != "kuma-collector-1.service" || h.be.startCount() != 1 || lk.grants != 0 {
		t.Fatalf("starts %v, lease grants %d", h.be.starts, lk.grants)
	}
}

func TestNoLeaseNoQuorumAction(t *testing.T) {
	peers := []Peer{{Name: "core-1", Alive: true}, {Name: "core-2", Alive: true}, {Name: "core-3", Alive: true}}
	h := start(t, newFakeBackend(failedUnit(coreUnit, "exit-code")), quorumOpts(&peers, nil))
	eventually(t, "refusal", func() bool { return h.ev.count(events.HealingRefused) >= 1 })
	d, _ := h.ev.last(events.HealingRefused)
	if !strings.Contains(d.Reason, "no coordination lease") || h.be.startCount() != 0 {
		t.Fatalf("reason %q, %d starts", d.Reason, h.be.startCount())
	}
}

func TestGroupHealthy(t *testing.T) {
	be := newFakeBackend(UnitState{Name: coreUnit, LoadState: "loaded", ActiveState: "active", SubState: "running"})
	h := start(t, be, func(o *Options) { o.DryRun = true })
	eventually(t, "healthy", func() bool { ok, known := h.sup.GroupHealthy(); return ok && known })
	be.set(failedUnit(coreUnit, "exit-code"))
	eventually(t, "unhealthy", func() bool { ok, known := h.sup.GroupHealthy(); return !ok && known })
}
