package lease

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// The state beside a lease: only the holder writes it (a holder that lost
// the lease writes nothing), anyone reads it, the next holder finds it,
// and no lease purpose can name its key.
func TestStateBesideTheLease(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a0, b0 := e.manager(t, "node-a"), e.manager(t, "node-b")
	a, err := a0.WithTTL(90 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b, err := b0.WithTTL(90 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := b.ReadState(ctx, "cluster-checks"); ok || err != nil {
		t.Fatalf("ReadState before any write: ok=%v err=%v", ok, err)
	}
	la := mustAcquire(t, a, "cluster-checks")
	if got := la.Record().Expires.Sub(la.Record().Acquired); got != 90*time.Second {
		t.Fatalf("WithTTL lease lasts %s, want 90s", got)
	}
	if err := la.WriteState(ctx, []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := b.ReadState(ctx, "cluster-checks"); !ok || err != nil || string(got) != `{"v":1}` {
		t.Fatalf("ReadState = %q %v %v", got, ok, err)
	}
	// A lease named like the state key is another key.
	mustAcquire(t, b, "state.cluster-checks")
	if got, _, _ := a.ReadState(ctx, "cluster-checks"); string(got) != `{"v":1}` {
		t.Fatalf("state overwritten by a lease: %q", got)
	}

	// 60 s after a's last write (the renewal inside WriteState), the 90 s
	// lease has not expired: no takeover, even with a failed.
	e.mesh.fail("node-a")
	e.clock.Advance(60 * time.Second)
	_, err = b.Acquire(ctx, "cluster-checks")
	wantHeld(t, err, "node-a")
	e.clock.Advance(31 * time.Second)
	lb := mustAcquire(t, b, "cluster-checks")
	if err := la.WriteState(ctx, []byte(`{"v":2}`)); !errors.Is(err, ErrLost) {
		t.Fatalf("old holder's WriteState = %v, want ErrLost", err)
	}
	if got, _, _ := b.ReadState(ctx, "cluster-checks"); string(got) != `{"v":1}` {
		t.Fatalf("the old holder wrote after the takeover: %q", got)
	}
	if err := lb.WriteState(ctx, []byte(strings.Repeat("x", MaxStateSize+1))); err == nil {
		t.Fatal("a state over MaxStateSize was written")
	}
	if _, err := a.WithTTL(0); err == nil {
		t.Fatal("WithTTL(0) accepted")
	}
}
