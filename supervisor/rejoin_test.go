package supervisor

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/etcd"
	"github.com/kuma-agent/kuma-agent/internal/events"
)

// recordRunner records commands and runs fn for each.
type recordRunner struct {
	mu   sync.Mutex
	runs [][]string
	fn   func(argv []string) error
}

func (r *recordRunner) Run(ctx context.Context, argv []string) ([]byte, error) {
	r.mu.Lock()
	r.runs = append(r.runs, argv)
	r.mu.Unlock()
	if r.fn != nil {
		return nil, r.fn(argv)
	}
	return nil, nil
}

func (r *recordRunner) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.runs) }

func TestRejoinRunsTheJoinCommandUnderTheLease(t *testing.T) {
	var out atomic.Bool
	out.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if out.Load() {
			fmt.Fprint(w, `{"raft":{"state":"out"}}`)
			return
		}
		fmt.Fprint(w, `{"raft":{"state":"follower"}}`)
	}))
	defer srv.Close()
	peers := []Peer{{Name: "core-1", Alive: true, Healthy: true}, {Name: "core-2", Alive: true, Healthy: true, Raft: "leader"}, {Name: "core-3", Alive: true, Healthy: true}}
	lk := &fakeLocker{node: "core-1"}
	be := newFakeBackend(UnitState{Name: coreUnit, LoadState: "loaded", ActiveState: "active", SubState: "running"})
	h := start(t, be, quorumOpts(&peers, lk))
	eventually(t, "unit seen", func() bool { return len(h.sup.Units()) == 1 })
	run := &recordRunner{fn: func([]string) error { out.Store(false); return nil }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.sup.RunRejoin(ctx, RejoinOptions{
		Interval: 10 * time.Millisecond, Readings: 3, RaftPort: 7209, Runner: run, Act: true,
		Backup: func(context.Context, string) (string, error) { return "/backup", nil },
		Signals: []Signal{HealthSignal{URL: srv.URL, Out: regexp.MustCompile(`"state":"out"`), In: regexp.MustCompile(`"state":"follower"`),
			Leader: regexp.MustCompile(`"leader"`)}},
		JoinCommand: []string{"kuma", "core", "--raft.join", "{{.Leader}}", "--id", "{{.ID}}", "--install"},
		RaftAddr:    func(n string) string { return n + ".kuma.local:7209" },
	})
	eventually(t, "rejoin finished", func() bool { return h.ev.count(events.HealingFinished) == 1 })
	want := "kuma core --raft.join core-2.kuma.local:7209 --id 00000000-0000-0000-0000-000000000000 --install"
	if run.count() != 1 || strings.Join(run.runs[0], " ") != want {
		t.Fatalf("commands %v, want one %q", run.runs, want)
	}
	if lk.grants != 1 {
		t.Fatalf("lease grants %d, want 1", lk.grants)
	}
	eventually(t, "follower", func() bool { return h.sup.RaftState() == "follower" })
	time.Sleep(100 * time.Millisecond)
	if run.count() != 1 {
		t.Fatalf("rejoined again while in the cluster: %d runs", run.count())
	}
}

// While no Raft voter of the inventory leads, the rejoin has nothing to
// do: it is refused once, before the guard and the lease, and the lease is
// never taken (finding: a lease.acquired/lease.released pair every
// interval). A member that is no Raft voter of the inventory claiming to
// lead changes nothing.
func TestRejoinWithoutLeaderIsRefusedWithoutTheLease(t *testing.T) {
	peers := []Peer{{Name: "core-1", Alive: true}, {Name: "core-2", Alive: true, Healthy: true}, {Name: "core-3", Alive: true, Healthy: true},
		{Name: "rogue-leader.attacker.example", Alive: true, Healthy: true, Raft: "leader"}}
	lk := &fakeLocker{node: "core-1"}
	h := start(t, newFakeBackend(UnitState{Name: coreUnit, LoadState: "loaded", ActiveState: "active"}), quorumOpts(&peers, lk))
	eventually(t, "unit seen", func() bool { return len(h.sup.Units()) == 1 })
	run := &recordRunner{}
	reads := &countingSignal{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.sup.RunRejoin(ctx, RejoinOptions{Interval: 5 * time.Millisecond, Readings: 1, RaftPort: 7209, Runner: run, Act: true,
		Signals: []Signal{reads}, JoinCommand: []string{"join", "{{.Leader}}"}})
	eventually(t, "refusal", func() bool { return h.ev.count(events.HealingRefused) == 1 })
	eventually(t, "20 more readings", func() bool { return reads.n.Load() > 20 })
	d, _ := h.ev.last(events.HealingRefused)
	if !strings.Contains(d.Reason, "no Raft leader") || run.count() != 0 {
		t.Fatalf("reason %q, %d runs", d.Reason, run.count())
	}
	lk.mu.Lock()
	grants := lk.grants
	lk.mu.Unlock()
	if grants != 0 || h.ev.count(events.HealingRefused) != 1 || h.ev.count(events.HealingStarted) != 0 {
		t.Fatalf("with no leader: %d lease grants, %d refusals, %d starts; want 0, 1, 0", grants, h.ev.count(events.HealingRefused), h.ev.count(events.HealingStarted))
	}
	if h.sup.RaftState() != "out" {
		t.Fatalf("raft state %q, want out", h.sup.RaftState())
	}
}

// countingSignal always reads "out" and counts its readings.
type countingSignal struct{ n atomic.Int64 }

func (c *countingSignal) Read(context.Context) (Reading, error) {
	c.n.Add(1)
	return Reading{Out: true, Detail: "test: out"}, nil
}

// The target is the inventory's Raft address of the one Raft voter that
// leads: not a member outside the group, not one of two claimants.
func TestRejoinLeaderIsAnInventoryRaftVoter(t *testing.T) {
	var peers []Peer
	sup, err := New(Options{Node: "core-1", Backend: newFakeBackend(), Policy: testPolicy(), Peers: func() []Peer { return peers },
		Guard: Guard{Hosts: []string{"core-1", "core-2", "core-3", "collector-1"}, Groups: map[Group][]string{GroupRaft: {"core-1", "core-2", "core-3"}}}})
	if err != nil {
		t.Fatal(err)
	}
	addr := RejoinOptions{RaftPort: 7209, RaftAddr: func(n string) string { return "raft-of-" + n + ":7299" }}
	for _, c := range []struct {
		name  string
		peers []Peer
		want  string // the target, or the error
	}{
		{"voter leads", []Peer{{Name: "core-2", Alive: true, Raft: "leader"}}, "raft-of-core-2:7299"},
		{"failed voter", []Peer{{Name: "core-2", Raft: "leader"}}, "no Raft leader"},
		{"self", []Peer{{Name: "core-1", Alive: true, Raft: "leader"}}, "no Raft leader"},
		{"not a voter", []Peer{{Name: "collector-1", Alive: true, Raft: "leader"}}, "no Raft leader"},
		{"not in the inventory", []Peer{{Name: "rogue-leader.attacker.example", Alive: true, Raft: "leader"}}, "no Raft leader"},
		{"two claim", []Peer{{Name: "core-3", Alive: true, Raft: "leader"}, {Name: "core-2", Alive: true, Raft: "leader"}}, "more than one Raft voter claims to lead (core-2, core-3)"},
	} {
		peers = c.peers
		got, err := sup.leader(addr)
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestLogSignal(t *testing.T) {
	f := filepath.Join(t.TempDir(), "core")
	if err := os.WriteFile(f, []byte("old: raft: removed from cluster\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := &LogSignal{File: f, Pattern: regexp.MustCompile(`raft: removed from cluster`)}
	ctx := context.Background()
	if r, err := l.Read(ctx); err != nil || r.Out {
		t.Fatalf("first read: %+v %v: old lines are history", r, err)
	}
	fh, _ := os.OpenFile(f, os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintln(fh, "x raft: removed from cluster")
	fh.Close()
	if r, err := l.Read(ctx); err != nil || !r.Out {
		t.Fatalf("after the line: %+v %v", r, err)
	}
	if r, _ := l.Read(ctx); !r.Out {
		t.Fatal("the line must stay matched until Reset")
	}
	l.Reset()
	if r, _ := l.Read(ctx); r.Out {
		t.Fatal("still out after Reset")
	}
}

func TestCleanupRemovesALongDeadMemberOnce(t *testing.T) {
	peers := []Peer{{Name: "c1", Alive: true, Healthy: true}, {Name: "c2", Alive: true, Healthy: true}, {Name: "c3"}}
	run := &recordRunner{}
	now := time.Now()
	h := start(t, newFakeBackend(), func(o *Options) {
		o.Node = "c1"
		o.Guard = Guard{Hosts: []string{"c1", "c2", "c3"}, Groups: map[Group][]string{GroupEtcd: {"c1", "c2", "c3"}}}
		o.Peers = func() []Peer { return peers }
		o.Locker = &fakeLocker{node: "c1"}
		o.Now = func() time.Time { return now }
	})
	failedAt := now.Add(-time.Hour)
	et := &fakeEtcd{members: []etcd.MemberView{fakeMember(1, "c1", true), fakeMember(2, "c2", true), fakeMember(3, "c3", false)}}
	opts := CleanupOptions{After: 30 * time.Minute, Runner: run, Etcd: et,
		Commands:    [][]string{{"k0s", "etcd", "leave", "--peer-address", "{{.Addr}}"}},
		FailedSince: func(n string) (time.Time, bool) { return failedAt, n == "c3" },
		Address:     func(n string) string { return "10.0.0." + strings.TrimPrefix(n, "c") }}
	st := newCleanupState()
	// etcd's verdict starts with the first reading: none yet for After.
	h.sup.cleanupOnce(context.Background(), opts, st)
	if run.count() != 0 || h.ev.count(events.HealingProposed) != 0 {
		t.Fatal("removed on etcd's first unhealthy reading")
	}
	now = now.Add(31 * time.Minute)
	// Dry-run first: proposed, nothing run.
	dry := opts
	dry.DryRun = true
	h.sup.cleanupOnce(context.Background(), dry, st)
	if run.count() != 0 || h.ev.count(events.HealingProposed) != 1 {
		t.Fatalf("dry-run ran %d commands, %d proposals", run.count(), h.ev.count(events.HealingProposed))
	}
	clear(st.handled)
	h.sup.cleanupOnce(context.Background(), opts, st)
	h.sup.cleanupOnce(context.Background(), opts, st)
	if run.count() != 1 || strings.Join(run.runs[0], " ") != "k0s etcd leave --peer-address 10.0.0.3" {
		t.Fatalf("commands %v", run.runs)
	}
	// With c2 down too, removing c3 would leave 1 of 2: refused.
	peers[1].Healthy = false
	clear(st.handled)
	h.sup.cleanupOnce(context.Background(), opts, st)
	if run.count() != 1 || h.ev.count(events.HealingRefused) != 1 {
		t.Fatalf("removal without quorum: %d runs, %d refusals", run.count(), h.ev.count(events.HealingRefused))
	}
	// Only the first live voter acts.
	peers[1].Healthy = true
	h2 := start(t, newFakeBackend(), func(o *Options) {
		o.Node = "c2"
		o.Guard = Guard{Hosts: []string{"c1", "c2", "c3"}, Groups: map[Group][]string{GroupEtcd: {"c1", "c2", "c3"}}}
		o.Peers = func() []Peer { return peers }
		o.Locker = &fakeLocker{node: "c2"}
		o.Now = func() time.Time { return now }
	})
	st2 := newCleanupState()
	h2.sup.cleanupOnce(context.Background(), opts, st2)
	now = now.Add(time.Hour)
	h2.sup.cleanupOnce(context.Background(), opts, st2)
	if run.count() != 1 {
		t.Fatal("a second voter repeated the removal")
	}
}

func TestExecBackend(t *testing.T) {
	dir := t.TempDir()
	code := filepath.Join(dir, "code")
	os.WriteFile(code, []byte("1"), 0o600)
	script := filepath.Join(dir, "svc")
	os.WriteFile(script, []byte("#!/bin/sh\ncase $2 in status) exit $(cat "+code+");; start) echo 0 > "+code+";; esac\n"), 0o700)
	e := &Exec{Units: []string{"kuma-collector-1"}, StatusCmd: []string{script, "{{.Unit}}", "status"}, StartCmd: []string{script, "{{.Unit}}", "start"}, Poll: 20 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := e.State(ctx, "kuma-collector-1")
	if err != nil || Classify(st) != Failed {
		t.Fatalf("status exit 1: %+v %v, want failed", st, err)
	}
	os.WriteFile(code, []byte("4"), 0o600)
	if _, err := e.State(ctx, "kuma-collector-1"); err == nil || !strings.Contains(err.Error(), "unknown") {
		t.Fatalf("status exit 4: %v, want unknown", err)
	}
	os.WriteFile(code, []byte("1"), 0o600)
	ch, _ := e.Watch(ctx, func(string) bool { return true })
	if u := <-ch; u.Err != nil || u.State.ActiveState != "failed" {
		t.Fatalf("first update %+v", u)
	}
	if err := e.Start(ctx, "kuma-collector-1"); err != nil {
		t.Fatal(err)
	}
	select {
	case u := <-ch:
		if u.State.ActiveState != "active" {
			t.Fatalf("after start: %+v", u)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no update after start")
	}
}
