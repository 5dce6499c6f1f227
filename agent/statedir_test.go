package agent

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/events/outbox"
	"github.com/kuma-agent/kuma-agent/internal/natsbus"
	"github.com/kuma-agent/kuma-agent/internal/testlab/tmpfs"
)

// extNATS is a NATS server with JetStream outside the agent's state
// directory, restartable on its port.
type extNATS struct {
	t     *testing.T
	store string
	port  int
	srv   *natsbus.Server
}

func newExtNATS(t *testing.T) *extNATS {
	n := &extNATS{t: t, store: t.TempDir(), port: -1}
	n.start()
	_, p, _ := net.SplitHostPort(strings.TrimPrefix(n.srv.ClientURL(), "nats://"))
	n.port, _ = strconv.Atoi(p)
	t.Cleanup(n.stop)
	return n
}

func (n *extNATS) url() string { return "nats://127.0.0.1:" + strconv.Itoa(n.port) }

func (n *extNATS) start() {
	srv, err := natsbus.StartServer(natsbus.ServerOptions{Name: "ext", Port: n.port, StoreDir: n.store,
		Users: []natsbus.User{{Identity: externalUser}}})
	if err != nil {
		n.t.Fatal(err)
	}
	n.srv = srv
}

func (n *extNATS) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv = nil
	}
}

// all reads every event in the stream.
func (n *extNATS) all(t *testing.T) []events.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js := clientJS(t, ctx, natsbus.ClientOptions{URL: n.url(), User: externalUser.User, Password: externalUser.Password})
	var out []events.Event
	_ = natsbus.Read(ctx, js, natsbus.DefaultStreamName, natsbus.Query{}, func(e events.Event) error {
		out = append(out, e)
		return nil
	})
	return out
}

// startDev runs a --dev agent (New already done) and stops it at cleanup.
func startDev(t *testing.T, a *Agent) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent stopped with %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("agent did not stop within 15s")
		}
	})
	select {
	case <-a.Ready():
	case err := <-done:
		t.Fatalf("the agent stopped while starting: %v (only a configuration error may stop it)", err)
	case <-time.After(30 * time.Second):
		t.Fatal("agent not ready within 30s")
	}
}

func (a *Agent) latest(check string) (checks.Outcome, bool) {
	for _, o := range a.sched.Latest() {
		if o.Check == check {
			return o, true
		}
	}
	return checks.Outcome{}, false
}

func droppedReports(t *testing.T, evs []events.Event) (rest []events.Event, reports []events.DroppedData, sum uint64) {
	t.Helper()
	for _, e := range evs {
		if e.ShortType() != events.EventsDropped {
			rest = append(rest, e)
			continue
		}
		var d events.DroppedData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		reports = append(reports, d)
		sum += d.Count
	}
	return rest, reports, sum
}

// Finding 4: a corrupt outbox segment made the agent exit 1 at every start
// (an endless Restart=always loop with no checks and no mesh). Now it
// starts, the segment is quarantined, the intact events are published, the
// loss is counted and announced, and the state check names the quarantine.
func TestAgentQuarantinesCorruptOutbox(t *testing.T) {
	nats := newExtNATS(t)
	cfg := devConfig(t, "corrupt.test.local", "16")
	useExternal(t, &cfg, nats.url())
	cfg.Checks.Interval = time.Second
	a, err := New(context.Background(), Options{Config: cfg, Dev: true, Logger: quietOptions().Logger})
	if err != nil {
		t.Fatal(err)
	}
	// Three events from an earlier run, the first one's length smashed.
	dir := filepath.Join(a.cfg.StateDir, "outbox")
	ob, err := outbox.Open(outbox.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		e, _ := events.New("kuma", "corrupt.test.local", events.CheckStatusChanged, "earlier-"+strconv.Itoa(i), events.SeverityInfo,
			events.CheckData{Check: "earlier", From: "ok", To: "warn"}, time.Now())
		if err := ob.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	ob.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	b, _ := os.ReadFile(segs[0])
	binary.LittleEndian.PutUint32(b, 2147483647)
	os.WriteFile(segs[0], b, 0o600)

	startDev(t, a)
	eventually(t, "the report and the intact events in the stream", 20*time.Second, func() bool {
		rest, reports, sum := droppedReports(t, nats.all(t))
		earlier := 0
		for _, e := range rest {
			if strings.HasPrefix(e.Subject, "earlier-") {
				earlier++
			}
		}
		return earlier == 2 && len(reports) == 1 && sum == 1 && reports[0].Reasons[events.DropCorrupt] == 1 &&
			reports[0].Uncounted && len(reports[0].Quarantined) == 1
	})
	if st := a.bus.stats(); st.outbox.Dropped != 1 || len(st.outbox.Quarantined) != 1 || st.outbox.Err != nil {
		t.Fatalf("outbox %+v; want 1 dropped, 1 quarantined, a working directory", st.outbox)
	}
	if q, _ := filepath.Glob(filepath.Join(dir, outbox.QuarantineDir, "*.seg.*")); len(q) != 1 {
		t.Fatalf("quarantine holds %v", q)
	}
	eventually(t, "the state check warning about the quarantine", 10*time.Second, func() bool {
		o, ok := a.latest("state")
		return ok && o.Status == checks.Warn && strings.Contains(o.Message, "corrupt outbox file")
	})
}

// degradedRun starts a --dev agent whose state directory is on a tmpfs
// that break() makes unusable (read-only or full) and heal() repairs,
// publishing to a NATS server that is down while the directory is broken.
// The agent must run on, the state check must go critical, and once both
// are back every event emitted must be in the stream or counted in an
// events.dropped there.
func degradedRun(t *testing.T, brokenAtStart bool, brk, heal func(t tmpfs.T, mnt string)) {
	nats := newExtNATS(t)
	cfg := devConfig(t, "degraded.test.local", "17") // before TMPDIR moves: the socket is not on the tmpfs
	useExternal(t, &cfg, nats.url())
	cfg.Checks.Interval = 500 * time.Millisecond
	cfg.Checks.Disabled = []string{"ntp", "hostname"}
	mnt := tmpfs.Mount(t, 2<<20)
	t.Setenv("TMPDIR", mnt) // where --dev makes its state dir
	var logs logBuffer
	o := quietOptions()
	o.Config, o.Dev, o.Logger = cfg, true, logs.Logger()
	o.outboxMemory = 8 << 10 // a few dozen events
	a, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	nats.stop()
	if brokenAtStart {
		brk(t, mnt)
	}
	startDev(t, a)
	if !brokenAtStart {
		brk(t, mnt)
	}
	// Plenty of events: more than memory holds.
	prev := checks.Outcome{Check: "flap", Result: checks.Okf("ok")}
	for i := range 300 {
		cur := checks.Outcome{Check: "flap", Result: checks.Critf("flap "+strconv.Itoa(i), "")}
		a.onCheckChange(&prev, cur)
		prev = cur
	}
	st := a.bus.stats()
	if st.outbox.Err == nil || st.outbox.Dropped == 0 || st.outbox.MemoryEvents == 0 {
		t.Fatalf("outbox %+v; want degraded, holding events in memory, some dropped", st.outbox)
	}
	// Not one line per event (finding 5: one ERROR each): one when the
	// directory fails, one when memory first overflows.
	var errLines int
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "level=ERROR") && strings.Contains(l, "outbox") {
			errLines++
		}
	}
	if errLines > 3 {
		t.Errorf("%d ERROR lines about the outbox for 300 events:\n%s", errLines, logs.String())
	}
	eventually(t, "the state check critical", 10*time.Second, func() bool {
		o, ok := a.latest("state")
		return ok && o.Status == checks.Crit && strings.Contains(o.Message, "the event outbox cannot use") &&
			strings.Contains(o.Message, "held in memory") && strings.Contains(o.Remedy, "goes back to its outbox by itself")
	})

	heal(t, mnt)
	nats.start()
	var stream []events.Event
	eventually(t, "every event stored or counted", 30*time.Second, func() bool {
		before := a.bus.stats()
		if before.pending != 0 || before.outbox.Err != nil {
			return false
		}
		stream = nats.all(t)
		after := a.bus.stats()
		rest, _, sum := droppedReports(t, stream)
		return before.emitted == after.emitted && uint64(len(rest))+sum == after.emitted
	})
	_, reports, sum := droppedReports(t, stream)
	var memFull uint64
	for _, r := range reports {
		memFull += r.Reasons[events.DropMemory]
	}
	if memFull == 0 || sum != a.bus.stats().outbox.Dropped {
		t.Fatalf("reports %+v: want the memory-full drops announced, %d in all", reports, a.bus.stats().outbox.Dropped)
	}
	// Those that survived are in order.
	last := -1
	for _, e := range stream {
		if e.Subject != "flap" {
			continue
		}
		var d events.CheckData
		json.Unmarshal(e.Data, &d)
		n, _ := strconv.Atoi(strings.TrimPrefix(d.Message, "flap "))
		if n <= last {
			t.Fatalf("flap %d after %d", n, last)
		}
		last = n
	}
	if last != 299 {
		t.Fatalf("the newest flap event stored is %d, want 299 (the oldest are dropped first)", last)
	}
	eventually(t, "the state check ok again", 10*time.Second, func() bool {
		o, ok := a.latest("state")
		return ok && o.Status != checks.Crit
	})
}

// A read-only state directory (chmod does not stop root: a tmpfs remounted
// read-only, in a private mount namespace): the agent used to exit 1.
func TestAgentRunsOnReadOnlyStateDir(t *testing.T) {
	if !tmpfs.InNamespace(t) {
		return
	}
	degradedRun(t, true, tmpfs.ReadOnly, tmpfs.ReadWrite)
}

// Finding 5: a full state directory lost events with one ERROR line each,
// outbox_dropped stayed 0 and no events.dropped was emitted.
func TestAgentFullStateDirCountsAndAnnounces(t *testing.T) {
	if !tmpfs.InNamespace(t) {
		return
	}
	var filler string
	degradedRun(t, false,
		func(t tmpfs.T, mnt string) { filler = tmpfs.Fill(t, mnt) },
		func(t tmpfs.T, _ string) {
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
		})
}
