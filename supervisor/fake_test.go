package supervisor

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// fakeBackend is an in-memory init system for the policy tests; the real
// one is exercised against systemd in nspawn (systemd_test.go).
type fakeBackend struct {
	mu       sync.Mutex
	units    map[string]UnitState
	updates  chan Update
	starts   []string
	restarts []string
	// startResult is the state a started unit ends in; default active.
	startResult map[string]string
	stateErr    error
}

func newFakeBackend(units ...UnitState) *fakeBackend {
	f := &fakeBackend{units: map[string]UnitState{}, updates: make(chan Update, 100), startResult: map[string]string{}}
	for _, u := range units {
		f.units[u.Name] = u
	}
	return f
}

func (f *fakeBackend) Watch(ctx context.Context, match func(string) bool) (<-chan Update, error) {
	f.mu.Lock()
	for _, u := range f.units {
		if match(u.Name) {
			f.updates <- Update{State: u}
		}
	}
	f.mu.Unlock()
	return f.updates, nil
}

func (f *fakeBackend) set(u UnitState) {
	f.mu.Lock()
	f.units[u.Name] = u
	f.mu.Unlock()
	f.updates <- Update{State: u}
}

func (f *fakeBackend) State(ctx context.Context, unit string) (UnitState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stateErr != nil {
		return UnitState{}, f.stateErr
	}
	u, ok := f.units[unit]
	if !ok {
		return UnitState{Name: unit, LoadState: "not-found", ActiveState: "inactive"}, nil
	}
	return u, nil
}

func (f *fakeBackend) ResetFailed(ctx context.Context, unit string) error { return nil }

func (f *fakeBackend) Start(ctx context.Context, unit string) error {
	f.mu.Lock()
	f.starts = append(f.starts, unit)
	st := "active"
	if r, ok := f.startResult[unit]; ok {
		st = r
	}
	u := UnitState{Name: unit, LoadState: "loaded", ActiveState: st, SubState: "running", Since: time.Now()}
	if st == "failed" {
		u.SubState, u.Result = "failed", "exit-code"
	}
	f.units[unit] = u
	f.mu.Unlock()
	f.updates <- Update{State: u}
	return nil
}

func (f *fakeBackend) Restart(ctx context.Context, unit string) error {
	f.mu.Lock()
	f.restarts = append(f.restarts, unit)
	f.mu.Unlock()
	return nil
}

func (f *fakeBackend) restartCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.restarts)
}

func (f *fakeBackend) startCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.starts)
}

func failedUnit(name, result string) UnitState {
	return UnitState{Name: name, LoadState: "loaded", ActiveState: "failed", SubState: "failed", Result: result, Since: time.Now()}
}

// eventLog records emitted events.
type eventLog struct {
	mu  sync.Mutex
	evs []recorded
}

type recorded struct {
	t    events.Type
	unit string
	data any
	at   time.Time
}

func (l *eventLog) emit(t events.Type, subject string, _ events.Severity, data any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, recorded{t, subject, data, time.Now()})
}

func (l *eventLog) count(t events.Type) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.evs {
		if e.t == t {
			n++
		}
	}
	return n
}

func (l *eventLog) last(t events.Type) (events.HealingData, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.evs) - 1; i >= 0; i-- {
		if l.evs[i].t == t {
			d, ok := l.evs[i].data.(events.HealingData)
			return d, ok
		}
	}
	return events.HealingData{}, false
}

// fakeLocker is a cluster lease shared by several supervisors.
type fakeLocker struct {
	mu     sync.Mutex
	holder string
	node   string
	grants int
	refuse error
}

type fakeLock struct {
	l    *fakeLocker
	lost chan error
}

func (f *fakeLocker) Acquire(ctx context.Context, purpose string) (Lock, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != nil {
		return nil, f.refuse
	}
	if f.holder != "" {
		return nil, errors.New("held by " + f.holder)
	}
	f.holder = f.node
	f.grants++
	return &fakeLock{l: f, lost: make(chan error)}, nil
}

func (k *fakeLock) Lost() <-chan error { return k.lost }
func (k *fakeLock) Release(ctx context.Context) error {
	k.l.mu.Lock()
	defer k.l.mu.Unlock()
	k.l.holder = ""
	return nil
}

func testPolicy() Backoff {
	return Backoff{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond, Window: time.Minute, MaxAttempts: 4,
		Rand: func() float64 { return 0.5 }}
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
