package lease

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

func mustAcquire(t *testing.T, m *Manager, purpose string) *Lease {
	t.Helper()
	l, err := m.Acquire(context.Background(), purpose)
	if err != nil {
		t.Fatalf("%s Acquire(%q): %v", m.o.Node, purpose, err)
	}
	return l
}

func wantHeld(t *testing.T, err error, holder string) ErrHeld {
	t.Helper()
	var held ErrHeld
	if !errors.As(err, &held) {
		t.Fatalf("err = %v, want ErrHeld by %s", err, holder)
	}
	if held.Holder != holder {
		t.Fatalf("ErrHeld.Holder = %q, want %q", held.Holder, holder)
	}
	return held
}

func wantHolder(t *testing.T, m *Manager, purpose, holder string) {
	t.Helper()
	rec, _, ok, err := m.Holder(context.Background(), purpose)
	if err != nil || !ok || rec.Holder != holder {
		t.Fatalf("Holder(%q) = %+v ok=%v err=%v, want held by %s", purpose, rec, ok, err, holder)
	}
}

// race makes a and b Acquire each purpose at the same moment and checks
// that exactly one wins and the other is refused naming the winner. It
// returns the winners' leases.
func race(t *testing.T, a, b *Manager, purposes []string) []*Lease {
	t.Helper()
	type result struct {
		node  string
		lease *Lease
		err   error
	}
	results := make([][2]result, len(purposes))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, p := range purposes {
		for j, m := range []*Manager{a, b} {
			wg.Go(func() {
				<-start
				l, err := m.Acquire(context.Background(), p)
				results[i][j] = result{m.o.Node, l, err}
			})
		}
	}
	close(start)
	wg.Wait()
	var won []*Lease
	for i, pair := range results {
		var winners []result
		for _, r := range pair {
			if r.err == nil {
				winners = append(winners, r)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("%s: %d winners (errors %v, %v), want exactly one", purposes[i], len(winners), pair[0].err, pair[1].err)
		}
		for _, r := range pair {
			if r.err != nil {
				wantHeld(t, r.err, winners[0].node)
			}
		}
		wantHolder(t, a, purposes[i], winners[0].node)
		won = append(won, winners[0].lease)
	}
	return won
}

func purposes(prefix string, n int) []string {
	var ps []string
	for i := range n {
		ps = append(ps, fmt.Sprintf("%s-%d", prefix, i))
	}
	return ps
}

func TestAcquireRaceHasOneWinner(t *testing.T) {
	e := newEnv(t)
	a, b := e.manager(t, "node-a"), e.manager(t, "node-b")
	const rounds = 100
	race(t, a, b, purposes("race", rounds))
	if got := len(e.rec.events()); got != rounds {
		t.Fatalf("%d events, want one lease.acquired per round (%d)", got, rounds)
	}
}

func TestAcquireRaceOnReleasedKeys(t *testing.T) {
	e := newEnv(t)
	a, b := e.manager(t, "node-a"), e.manager(t, "node-b")
	ps := purposes("again", 50)
	for _, l := range race(t, a, b, ps) {
		if err := l.Release(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	race(t, a, b, ps) // Create over delete markers takes another code path
}

func TestExpiryAloneDoesNotFreeLease(t *testing.T) {
	e := newEnv(t)
	a, b := e.manager(t, "node-a"), e.manager(t, "node-b")
	ctx := context.Background()
	la := mustAcquire(t, a, "heal")

	_, err := b.Acquire(ctx, "heal")
	wantHeld(t, err, "node-a")

	// A stops renewing; long past expiry the mesh still says A is alive.
	e.clock.Advance(10 * time.Minute)
	_, err = b.Acquire(ctx, "heal")
	held := wantHeld(t, err, "node-a")
	if !held.Expires.Before(e.clock.Now()) {
		t.Fatalf("ErrHeld.Expires = %s, want the stale expiry before now %s", held.Expires, e.clock.Now())
	}

	// A comes back and renews: still its lease.
	if err := la.Renew(ctx); err != nil {
		t.Fatalf("Renew after expiry: %v", err)
	}
	_, err = b.Acquire(ctx, "heal")
	wantHeld(t, err, "node-a")
	wantHolder(t, b, "heal", "node-a")
	if got := la.Record().Expires; !got.Equal(e.clock.Now().Add(15 * time.Second)) {
		t.Fatalf("renewed expiry %s, want now+TTL", got)
	}
}

func TestTakeOverFromFailedHolder(t *testing.T) {
	e := newEnv(t)
	a, b := e.manager(t, "node-a"), e.manager(t, "node-b")
	ctx := context.Background()
	la := mustAcquire(t, a, "heal")
	for range 2 {
		e.clock.Advance(5 * time.Second)
		if err := la.Renew(ctx); err != nil {
			t.Fatalf("Renew: %v", err)
		}
	}
	// A dies: no more renewals; the mesh declares it failed.
	e.clock.Advance(30 * time.Second)
	e.mesh.fail("node-a")
	lb := mustAcquire(t, b, "heal")
	wantHolder(t, a, "heal", "node-b")

	if err := la.Renew(ctx); !errors.Is(err, ErrLost) {
		t.Fatalf("A Renew after takeover = %v, want ErrLost", err)
	}
	if err := la.Release(ctx); !errors.Is(err, ErrLost) {
		t.Fatalf("A Release after takeover = %v, want ErrLost", err)
	}
	wantHolder(t, a, "heal", "node-b") // A's CAS delete left B's record alone
	if err := lb.Renew(ctx); err != nil {
		t.Fatalf("B Renew: %v", err)
	}

	want := []events.Type{events.LeaseAcquired, events.LeaseRenewed, events.LeaseRenewed, events.LeaseTakenOver, events.LeaseRenewed}
	if got := e.rec.types(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	got := e.rec.events()
	if to := got[3].Data; to.Holder != "node-b" || to.Previous != "node-a" || to.Purpose != "heal" {
		t.Fatalf("taken_over data %+v, want holder node-b previous node-a purpose heal", to)
	}
	if r := got[2].Data; r.Holder != "node-a" || !r.ExpiresAt.Equal(newClock().Now().Add(10*time.Second+15*time.Second)) {
		t.Fatalf("second renewed data %+v, want node-a expiring at start+25s", r)
	}
}

func TestReleaseLetsOtherAcquire(t *testing.T) {
	e := newEnv(t)
	a, b := e.manager(t, "node-a"), e.manager(t, "node-b")
	ctx := context.Background()
	la := mustAcquire(t, a, "heal")
	if err := la.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if _, _, ok, err := b.Holder(ctx, "heal"); ok || err != nil {
		t.Fatalf("Holder after release: ok=%v err=%v, want free", ok, err)
	}
	mustAcquire(t, b, "heal")
	wantHolder(t, a, "heal", "node-b")
	if err := la.Renew(ctx); !errors.Is(err, ErrLost) {
		t.Fatalf("Renew after Release = %v, want ErrLost", err)
	}
	want := []events.Type{events.LeaseAcquired, events.LeaseReleased, events.LeaseAcquired}
	if got := e.rec.types(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func TestSameNodeReacquires(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old := mustAcquire(t, e.manager(t, "node-a"), "heal")
	// The agent restarted: a new Manager for the same node.
	fresh := mustAcquire(t, e.manager(t, "node-a"), "heal")
	if fresh.Revision() == old.Revision() {
		t.Fatalf("re-acquire kept revision %d, want a new write", old.Revision())
	}
	if err := old.Renew(ctx); !errors.Is(err, ErrLost) {
		t.Fatalf("old lease Renew = %v, want ErrLost", err)
	}
	if err := fresh.Renew(ctx); err != nil {
		t.Fatalf("fresh Renew: %v", err)
	}
}

// ticker hands KeepAlive ticks one at a time.
type ticker chan time.Time

func (tk ticker) After(time.Duration) <-chan time.Time { return tk }

// waitEvents waits until the recorder holds n events.
func waitEvents(t *testing.T, r *recorder, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(r.events()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("events %v, waited for %d", r.types(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestKeepAliveRenewsAndReportsLoss(t *testing.T) {
	e := newEnv(t)
	tk := make(ticker)
	a := e.manager(t, "node-a", func(o *Options) { o.After = tk.After })
	b := e.manager(t, "node-b")
	la := mustAcquire(t, a, "heal")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lost := la.KeepAlive(ctx)

	tk <- time.Time{}
	waitEvents(t, e.rec, 2)
	tk <- time.Time{}
	waitEvents(t, e.rec, 3)

	e.mesh.fail("node-a")
	e.clock.Advance(16 * time.Second) // failed and expired: a takeover needs both
	mustAcquire(t, b, "heal")
	tk <- time.Time{}
	select {
	case err := <-lost:
		if !errors.Is(err, ErrLost) {
			t.Fatalf("KeepAlive sent %v, want ErrLost", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("KeepAlive did not report the loss")
	}
	if _, open := <-lost; open {
		t.Fatal("KeepAlive channel still open after the loss")
	}
	want := []events.Type{events.LeaseAcquired, events.LeaseRenewed, events.LeaseRenewed, events.LeaseTakenOver}
	if got := e.rec.types(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func TestKeepAliveReportsExpiryWhenCutOff(t *testing.T) {
	e := newEnv(t)
	tk := make(ticker)
	nc, err := nats.Connect(e.url)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(context.Background(), js, Options{Node: "node-a", TTL: 15 * time.Second, Liveness: e.mesh, Now: e.clock.Now, After: tk.After})
	if err != nil {
		t.Fatal(err)
	}
	la := mustAcquire(t, a, "heal")
	lost := la.KeepAlive(t.Context())
	nc.Close() // cut off from NATS: renewals fail

	// Before expiry a failed renewal is retried, not reported: KeepAlive
	// takes the next tick.
	tk <- time.Time{}
	tk <- time.Time{}
	e.clock.Advance(16 * time.Second)
	timeout := time.After(10 * time.Second)
	for {
		select {
		case tk <- time.Time{}: // the renewal in flight may still predate the advance
			continue
		case err := <-lost:
			if !errors.Is(err, ErrExpired) {
				t.Fatalf("KeepAlive sent %v, want ErrExpired", err)
			}
		case <-timeout:
			t.Fatal("KeepAlive did not report the expiry")
		}
		break
	}
}

func TestKeepAliveStopsQuietly(t *testing.T) {
	e := newEnv(t)
	tk := make(ticker)
	a := e.manager(t, "node-a", func(o *Options) { o.After = tk.After })
	la := mustAcquire(t, a, "heal")
	ctx, cancel := context.WithCancel(context.Background())
	alive := la.KeepAlive(ctx)
	cancel()
	if err, open := <-alive; open {
		t.Fatalf("KeepAlive sent %v after cancel, want a closed channel", err)
	}

	alive = la.KeepAlive(context.Background())
	if err := la.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	tk <- time.Time{}
	if err, open := <-alive; open {
		t.Fatalf("KeepAlive sent %v after Release, want a closed channel", err)
	}
}

func TestCorruptRecordIsAnError(t *testing.T) {
	e := newEnv(t)
	a := e.manager(t, "node-a")
	ctx := context.Background()
	for _, val := range []string{"not json", `{"purpose":"heal"}`} {
		if _, err := a.kv.Put(ctx, "heal", []byte(val)); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Acquire(ctx, "heal"); err == nil {
			t.Fatalf("Acquire over record %q succeeded, want an error", val)
		}
		if _, _, _, err := a.Holder(ctx, "heal"); err == nil {
			t.Fatalf("Holder over record %q succeeded, want an error", val)
		}
	}
}

func TestOddPurposesAreDistinctLeases(t *testing.T) {
	e := newEnv(t)
	a, b := e.manager(t, "node-a"), e.manager(t, "node-b")
	purposes := []string{"heal", "heal.", ".heal", "he..al", "he_al", "he.al", "he=2Eal", "unit/kuma-collector@x.service", "ключ", "a b*>"}
	for i, p := range purposes {
		m := a
		if i%2 == 1 {
			m = b
		}
		mustAcquire(t, m, p)
	}
	for i, p := range purposes {
		want := "node-a"
		if i%2 == 1 {
			want = "node-b"
		}
		wantHolder(t, a, p, want)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	e := newEnv(t)
	js := connect(t, e.url)
	cases := map[string]Options{
		"no node":          {Liveness: e.mesh},
		"no liveness":      {Node: "a"},
		"negative ttl":     {Node: "a", Liveness: e.mesh, TTL: -time.Second},
		"renew beyond ttl": {Node: "a", Liveness: e.mesh, TTL: time.Second, RenewEvery: time.Second},
		"bad bucket":       {Node: "a", Liveness: e.mesh, Bucket: "a.b"},
	}
	for name, o := range cases {
		if _, err := New(context.Background(), js, o); err == nil {
			t.Errorf("%s: New succeeded, want an error", name)
		}
	}
	if _, err := New(context.Background(), nil, Options{Node: "a", Liveness: e.mesh}); err == nil {
		t.Error("nil jetstream: New succeeded, want an error")
	}
}

// TestFailedButStillRenewingHolderKeepsTheLease: the mesh's verdict alone
// does not free a lease whose holder still renews it (a node cut off from
// the gossip but not from NATS is still acting); failed and expired does.
func TestFailedButStillRenewingHolderKeepsTheLease(t *testing.T) {
	e := newEnv(t)
	a, b := e.manager(t, "node-a"), e.manager(t, "node-b")
	la := mustAcquire(t, a, "heal")
	e.mesh.fail("node-a")
	_, err := b.Acquire(context.Background(), "heal")
	wantHeld(t, err, "node-a")
	e.clock.Advance(10 * time.Second)
	if err := la.Renew(context.Background()); err != nil { // still acting, still renewing
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Second)
	_, err = b.Acquire(context.Background(), "heal")
	wantHeld(t, err, "node-a")
	e.clock.Advance(6 * time.Second) // now past the renewed expiry
	mustAcquire(t, b, "heal")
	if err := la.Renew(context.Background()); !errors.Is(err, ErrLost) {
		t.Fatalf("old holder Renew = %v, want ErrLost", err)
	}
}

// TestBucketBounded: the bucket is made with a size and a value bound, so
// no writer fills the JetStream servers' disks through it; a value over
// the bound is refused and the lease is unchanged.
func TestBucketBounded(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, "node-a")
	ctx := context.Background()
	st, err := m.kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config
	if cfg.MaxBytes != bucketMaxBytes || cfg.MaxMsgSize != bucketMaxValueSize || cfg.Discard != jetstream.DiscardNew {
		t.Fatalf("bucket max bytes %d, max value %d, discard %v; want %d, %d, new", cfg.MaxBytes, cfg.MaxMsgSize, cfg.Discard,
			bucketMaxBytes, bucketMaxValueSize)
	}
	mustAcquire(t, m, "heal")
	if _, err := m.kv.Put(ctx, "heal", make([]byte, bucketMaxValueSize+1)); err == nil {
		t.Fatal("a value over the bound was stored")
	}
	wantHolder(t, m, "heal", "node-a")
}
