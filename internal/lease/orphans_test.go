package lease

import (
	"context"
	"errors"
	"testing"
)

// swept are the purposes the tests' sweeps look at ("state.heal" is no
// purpose's key: Key escapes the dot).
var swept = []string{"heal", "other", "cluster-checks", "never-written"}

// A release whose Delete fails (here: its context is already done, as when
// JetStream has no quorum for the 5 s the supervisor gives it) must not
// leave the cluster's lease with a live holder that will never renew nor
// release it: the other nodes would be refused for as long as it lives.
func TestFailedReleaseIsFreedByTheOrphanSweep(t *testing.T) {
	e := newEnv(t)
	a, b := e.manager(t, "node-a"), e.manager(t, "node-b")
	la := mustAcquire(t, a, "heal")
	dead, cancel := context.WithCancel(context.Background())
	cancel()
	err := la.Release(dead)
	if err == nil || errors.Is(err, ErrLost) {
		t.Fatalf("Release with a done context = %v, want a delete error", err)
	}
	ctx := context.Background()
	wantHolder(t, b, "heal", "node-a")
	e.clock.Advance(a.o.TTL) // expired, and node-a alive: refused by the rules
	_, err = b.Acquire(ctx, "heal")
	wantHeld(t, err, "node-a")
	if n, err := b.ReleaseOrphans(ctx, swept...); n != 0 || err != nil {
		t.Fatalf("node-b's sweep released %d (err %v): another node's record is not its orphan", n, err)
	}
	n, err := a.ReleaseOrphans(ctx, swept...)
	if n != 1 || err != nil {
		t.Fatalf("node-a's sweep released %d, err %v; want 1", n, err)
	}
	mustAcquire(t, b, "heal")
	if err := la.Renew(ctx); !errors.Is(err, ErrLost) {
		t.Fatalf("Renew of the released lease = %v, want ErrLost", err)
	}
}

// An agent restarted mid-action: the new process holds nothing, so its
// sweep frees the old process's record.
func TestOrphanSweepAfterRestart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old := mustAcquire(t, e.manager(t, "node-a"), "heal")
	fresh := e.manager(t, "node-a")
	if n, err := fresh.ReleaseOrphans(ctx, swept...); n != 1 || err != nil {
		t.Fatalf("sweep after restart released %d, err %v; want 1", n, err)
	}
	if _, _, ok, err := fresh.Holder(ctx, "heal"); ok || err != nil {
		t.Fatalf("Holder after the sweep: ok=%v err=%v, want free", ok, err)
	}
	if err := old.Renew(ctx); !errors.Is(err, ErrLost) {
		t.Fatalf("old lease Renew = %v, want ErrLost", err)
	}
}

// What this process holds (through any of its Managers), other nodes'
// records and the state records are never swept.
func TestOrphanSweepLeavesWhatIsHeld(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	holds := NewHolds()
	a := e.manager(t, "node-a", func(o *Options) { o.Holds = holds })
	b := e.manager(t, "node-b")
	la := mustAcquire(t, a, "heal")
	if err := la.WriteState(ctx, []byte(`{"k":1}`)); err != nil {
		t.Fatal(err)
	}
	mustAcquire(t, b, "other")
	short, err := a.WithTTL(a.o.TTL / 2)
	if err != nil {
		t.Fatal(err)
	}
	mustAcquire(t, short, "cluster-checks")
	// A second Manager of the same process (a new NATS connection).
	again := e.manager(t, "node-a", func(o *Options) { o.Holds = holds })
	for _, m := range []*Manager{a, short, again, b} {
		if n, err := m.ReleaseOrphans(ctx, swept...); n != 0 || err != nil {
			t.Fatalf("sweep released %d (err %v), want none", n, err)
		}
	}
	wantHolder(t, a, "heal", "node-a")
	wantHolder(t, a, "cluster-checks", "node-a")
	wantHolder(t, a, "other", "node-b")
	if _, ok, err := a.ReadState(ctx, "heal"); !ok || err != nil {
		t.Fatalf("state record gone after the sweep: ok=%v err=%v", ok, err)
	}
	if err := la.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := again.ReleaseOrphans(ctx, swept...); n != 0 || err != nil {
		t.Fatalf("sweep after a clean release released %d (err %v)", n, err)
	}
}
