package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/kumaunit"
)

// site is a site-confirmed health format for these tests (KUMA documents
// none): what the fake Core's json format answers.
var (
	siteOut    = regexp.MustCompile(`"state":"out"`)
	siteIn     = regexp.MustCompile(`"state":"follower"`)
	siteLeader = regexp.MustCompile(`"state":"leader"`)
)

// health serves one fixed answer, switchable.
type health struct {
	code atomic.Int32
	body atomic.Value
	hang atomic.Bool
}

func newHealth(t *testing.T, code int, body string) (*health, *httptest.Server) {
	h := &health{}
	h.set(code, body)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.hang.Load() {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(int(h.code.Load()))
		fmt.Fprint(w, h.body.Load().(string))
	}))
	t.Cleanup(func() { h.hang.Store(false); srv.Close() })
	return h, srv
}

func (h *health) set(code int, body string) { h.code.Store(int32(code)); h.body.Store(body) }

// Only a 2xx body matching a configured pattern is a reading; an HTTP
// error, a 404, a timeout or a body matching nothing is unknown.
func TestHealthSignalJudgesOnlyConfirmedPatterns(t *testing.T) {
	h, srv := newHealth(t, 200, "")
	sig := HealthSignal{URL: srv.URL, Out: siteOut, In: siteIn, Leader: siteLeader, Timeout: 200 * time.Millisecond}
	for _, c := range []struct {
		name     string
		code     int
		body     string
		hang     bool
		want     string // out, in, leader, or a substring of the error
		noAnswer bool
	}{
		{"out", 200, `{"raft":{"state":"out"}}`, false, "out", false},
		{"in", 200, `{"raft":{"state":"follower"}}`, false, "in", false},
		{"leader", 200, `{"raft":{"state":"leader"}}`, false, "leader", false},
		{"404 on the path", 404, "404 page not found", false, "404 Not Found: unknown", false},
		{"503 even saying out", 503, `{"raft":{"state":"out"}}`, false, "503 Service Unavailable: unknown", false},
		{"unmatched body", 200, "OK", false, "matches none of the configured patterns", false},
		{"timeout", 200, "", true, "no answer within the timeout", true},
	} {
		h.set(c.code, c.body)
		h.hang.Store(c.hang)
		r, err := sig.Read(context.Background())
		got := "in"
		switch {
		case err != nil:
			got = err.Error()
		case r.Out:
			got = "out"
		case r.Leader:
			got = "leader"
		}
		if !strings.Contains(got, c.want) {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
		if errors.Is(err, ErrNoAnswer) != c.noAnswer {
			t.Errorf("%s: ErrNoAnswer %v, want %v", c.name, errors.Is(err, ErrNoAnswer), c.noAnswer)
		}
	}
}

// The health URL is the unit's own --health listener, never an assumed port.
func TestHealthURLFromTheUnit(t *testing.T) {
	parse := func(argv ...string) *kumaunit.Exec {
		e, err := kumaunit.Parse(argv)
		if err != nil {
			t.Fatal(err)
		}
		return &e
	}
	for _, c := range []struct {
		exec *kumaunit.Exec
		want string
	}{
		{parse("kuma", "core", "--health", "0.0.0.0:9208"), "http://127.0.0.1:9208/healthz"},
		{parse("kuma", "core", "--health", ":9208"), "http://127.0.0.1:9208/healthz"},
		{parse("kuma", "core", "--health", "[::]:9208"), "http://127.0.0.1:9208/healthz"},
		{parse("kuma", "core", "--health", "10.0.0.5:7208"), "http://10.0.0.5:7208/healthz"},
		{parse("kuma", "core", "--rest", "0.0.0.0:7223"), "no --health listener"},
		{nil, "ExecStart not read"},
	} {
		got, err := HealthURL("", "/healthz", c.exec)
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, c.want) {
			t.Errorf("%v: %q, want %q", c.exec, got, c.want)
		}
	}
	if got, _ := HealthURL("http://x:1/y", "/z", nil); got != "http://x:1/y" {
		t.Errorf("configured URL: %q", got)
	}
}

// rejoinLab is a Core unit on core-1, core-2 leading, a health server and
// a recording runner.
type rejoinLab struct {
	h       *harness
	run     *recordRunner
	lk      *fakeLocker
	backups atomic.Int64
	// backupErr fails the backup.
	backupErr error
}

func (l *rejoinLab) backup(_ context.Context, id string) (string, error) {
	if l.backupErr != nil {
		return "", l.backupErr
	}
	// The backup comes before the join command, always.
	if n := l.backups.Add(1); int(n) != l.run.count()+1 {
		return "", fmt.Errorf("backup %d after %d join commands", n, l.run.count())
	}
	return "/var/lib/kuma-agent/core-backups/" + id + ".tar.gz", nil
}

func newRejoinLab(t *testing.T, joinErr error) *rejoinLab {
	peers := []Peer{{Name: "core-1", Alive: true, Healthy: true}, {Name: "core-2", Alive: true, Healthy: true, Raft: "leader"}, {Name: "core-3", Alive: true, Healthy: true}}
	lk := &fakeLocker{node: "core-1"}
	be := newFakeBackend(UnitState{Name: coreUnit, LoadState: "loaded", ActiveState: "active", SubState: "running"})
	h := start(t, be, quorumOpts(&peers, lk))
	eventually(t, "unit seen", func() bool { return len(h.sup.Units()) == 1 })
	return &rejoinLab{h: h, lk: lk, run: &recordRunner{fn: func([]string) error { return joinErr }}}
}

func (l *rejoinLab) runLoop(t *testing.T, url string, mod func(*RejoinOptions)) {
	o := RejoinOptions{Interval: 5 * time.Millisecond, Readings: 2, RaftPort: 7209, Runner: l.run, Act: true, Backup: l.backup,
		Signals:     []Signal{HealthSignal{URL: url, Out: siteOut, In: siteIn, Leader: siteLeader, Timeout: 50 * time.Millisecond}},
		JoinCommand: []string{"kuma", "core", "--raft.join", "{{.Leader}}", "--id", "{{.ID}}", "--install"}}
	if mod != nil {
		mod(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go l.h.sup.RunRejoin(ctx, o)
}

// A Core whose health answers 404 (an unconfirmed path) is never
// rejoined or reinstalled: unknown, however many readings.
func TestRejoin404IsNeverActedOn(t *testing.T) {
	l := newRejoinLab(t, nil)
	reads := &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reads.Add(1); http.NotFound(w, r) }))
	defer srv.Close()
	l.runLoop(t, srv.URL, nil)
	eventually(t, "50 readings", func() bool { return reads.Load() >= 50 })
	if l.run.count() != 0 || l.h.ev.count(events.HealingStarted) != 0 || l.h.ev.count(events.HealingProposed) != 0 || l.h.sup.RaftState() != "" {
		t.Fatalf("404: %d commands, %d starts, %d proposals, state %q; want nothing, unknown", l.run.count(),
			l.h.ev.count(events.HealingStarted), l.h.ev.count(events.HealingProposed), l.h.sup.RaftState())
	}
}

// Without supervisor.rejoin.enabled the loop reads and reports, never acts;
// with dry_run it proposes once per fall.
func TestRejoinOffAndDryRun(t *testing.T) {
	_, srv := newHealth(t, 200, `{"raft":{"state":"out"}}`)
	l := newRejoinLab(t, nil)
	l.runLoop(t, srv.URL, func(o *RejoinOptions) { o.Act = false })
	eventually(t, "out", func() bool { return l.h.sup.RaftState() == "out" })
	time.Sleep(50 * time.Millisecond)
	if l.run.count() != 0 || l.h.ev.count(events.HealingProposed) != 0 || l.h.ev.count(events.HealingStarted) != 0 {
		t.Fatalf("not enabled: %d commands, %d proposals, %d starts", l.run.count(), l.h.ev.count(events.HealingProposed), l.h.ev.count(events.HealingStarted))
	}
	d := newRejoinLab(t, nil)
	d.runLoop(t, srv.URL, func(o *RejoinOptions) { o.DryRun = true })
	eventually(t, "proposal", func() bool { return d.h.ev.count(events.HealingProposed) == 1 })
	time.Sleep(100 * time.Millisecond)
	if d.run.count() != 0 || d.h.ev.count(events.HealingProposed) != 1 {
		t.Fatalf("dry run: %d commands, %d proposals; want 0, 1", d.run.count(), d.h.ev.count(events.HealingProposed))
	}
}

// A failed rejoin is not repeated until the Core is seen in the cluster.
func TestRejoinNeverTwiceWithoutASuccess(t *testing.T) {
	h, srv := newHealth(t, 200, `{"raft":{"state":"out"}}`)
	l := newRejoinLab(t, errors.New("exit status 1"))
	l.runLoop(t, srv.URL, nil)
	eventually(t, "failed rejoin", func() bool { return l.h.ev.count(events.HealingFinished) == 1 })
	eventually(t, "refusal", func() bool {
		d, ok := l.h.ev.last(events.HealingRefused)
		return ok && strings.Contains(d.Reason, "last rejoin of this Core failed")
	})
	time.Sleep(50 * time.Millisecond)
	if l.run.count() != 1 {
		t.Fatalf("%d join commands after a failure, want 1", l.run.count())
	}
	// Seen in the cluster, then out again: one more attempt is allowed.
	h.set(200, `{"raft":{"state":"follower"}}`)
	eventually(t, "follower", func() bool { return l.h.sup.RaftState() == "follower" })
	h.set(200, `{"raft":{"state":"out"}}`)
	eventually(t, "second attempt", func() bool { return l.run.count() == 2 })
}

// An active Core whose health listener stops answering is reported hung
// after HungReadings readings, and fine again once it answers.
func TestHungCoreFinding(t *testing.T) {
	h, srv := newHealth(t, 200, `{"raft":{"state":"follower"}}`)
	l := newRejoinLab(t, nil)
	l.runLoop(t, srv.URL, func(o *RejoinOptions) { o.HungReadings = 3 })
	eventually(t, "follower", func() bool { return l.h.sup.RaftState() == "follower" })
	if l.h.sup.HungCore() != "" {
		t.Fatal("hung while answering")
	}
	h.hang.Store(true)
	eventually(t, "hung", func() bool { return l.h.sup.HungCore() == coreUnit })
	r := l.h.sup.Check().Run(context.Background())
	if r.Status != checks.Crit || !strings.Contains(strings.Join(r.Details, "\n"), "hung") || !strings.Contains(r.Remedy, "systemctl restart "+coreUnit) {
		t.Fatalf("units check with a hung Core: %+v", r)
	}
	if l.h.sup.RaftState() != "" {
		t.Fatalf("raft state %q while hung, want unknown", l.h.sup.RaftState())
	}
	h.hang.Store(false)
	eventually(t, "answers again", func() bool { return l.h.sup.HungCore() == "" })
}

// A backup that fails stops the rejoin before its command: nothing runs.
func TestRejoinNeedsABackup(t *testing.T) {
	_, srv := newHealth(t, 200, `{"raft":{"state":"out"}}`)
	l := newRejoinLab(t, nil)
	l.backupErr = errors.New("backup refused: disk would fall below the threshold")
	l.runLoop(t, srv.URL, nil)
	eventually(t, "failed rejoin", func() bool { return l.h.ev.count(events.HealingFinished) == 1 })
	d, _ := l.h.ev.last(events.HealingFinished)
	if l.run.count() != 0 || !strings.Contains(d.Reason, "backup before the rejoin failed, nothing was run") {
		t.Fatalf("%d join commands, reason %q", l.run.count(), d.Reason)
	}
}

// With restart_hung, a hung Core is restarted once per silence under the
// lease; without it, only reported; dry-run proposes.
func TestHungCoreRestart(t *testing.T) {
	h, srv := newHealth(t, 200, `{"raft":{"state":"follower"}}`)
	h.hang.Store(true)
	off := newRejoinLab(t, nil)
	off.runLoop(t, srv.URL, func(o *RejoinOptions) { o.HungReadings = 2 })
	on := newRejoinLab(t, nil)
	on.runLoop(t, srv.URL, func(o *RejoinOptions) { o.HungReadings = 2; o.RestartHung = true })
	be := on.h.be
	eventually(t, "restart", func() bool { return be.restartCount() == 1 })
	eventually(t, "restart finished", func() bool {
		d, ok := on.h.ev.last(events.HealingFinished)
		return ok && d.Action == "restart-hung"
	})
	time.Sleep(100 * time.Millisecond)
	on.lk.mu.Lock()
	grants := on.lk.grants
	on.lk.mu.Unlock()
	if be.restartCount() != 1 || grants != 1 {
		t.Fatalf("%d restarts, %d lease grants while still silent: want 1, 1", be.restartCount(), grants)
	}
	if off.h.be.restartCount() != 0 || off.h.sup.HungCore() != coreUnit {
		t.Fatalf("without restart_hung: %d restarts, hung %q", off.h.be.restartCount(), off.h.sup.HungCore())
	}
	// It answers, then hangs again: one more restart is allowed.
	h.hang.Store(false)
	eventually(t, "answers", func() bool { return on.h.sup.HungCore() == "" })
	h.hang.Store(true)
	eventually(t, "second restart", func() bool { return be.restartCount() == 2 })
}
