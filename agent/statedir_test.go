package agent

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/events/outbox"
	"github.com/kuma-agent/kuma-agent/internal/natsbus"
	"github.com/kuma-agent/kuma-agent/internal/testlab/tmpfs"
	"github.com/kuma-agent/kuma-agent/supervisor"
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
// loss is counted and announced, and the state check names the quarantine;
// the agent meshes with a healthy peer (which sees the warning in doctor
// --cluster) and heals a unit that fails, the heal in the stream.
func TestAgentQuarantinesCorruptOutbox(t *testing.T) {
	nats := newExtNATS(t)
	m := newBrokenNodeMesh(t, "corrupt.test.local", "16", "18")
	cfg := devConfig(t, "corrupt.test.local", "16")
	m.configure(&cfg)
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
	// And it meshes and heals with the segment in quarantine.
	m.meshes(t, &testNode{cfg: cfg, agent: a}, checks.Warn)
	m.failAndHeal(t, a)
	eventually(t, "the unit's failure and heal in the stream", meshTimeout, func() bool { return healed(t, nats.all(t)) })
}

// degradedRun starts a --dev agent whose state directory is on a tmpfs
// that break() makes unusable (read-only or full) and heal() repairs,
// publishing to a NATS server that is down while the directory is broken.
// The agent must run on, the state check must go critical, it must mesh
// with a healthy peer (both alive, doctor --cluster answered by both, the
// peer told of the critical state dir) and heal a unit that fails while
// the directory is broken; and once both are back every event emitted must
// be in the stream or counted in an events.dropped there, the unit's heal
// among those stored.
func degradedRun(t *testing.T, brokenAtStart bool, brk, heal func(t tmpfs.T, mnt string)) {
	nats := newExtNATS(t)
	// Before TMPDIR moves: the peer's state dir, the control socket and
	// the stand-in unit are not on the tmpfs.
	m := newBrokenNodeMesh(t, "degraded.test.local", "17", "18")
	cfg := devConfig(t, "degraded.test.local", "17")
	m.configure(&cfg)
	useExternal(t, &cfg, nats.url())
	cfg.Checks.Interval = 500 * time.Millisecond
	mnt := tmpfs.Mount(t, 2<<20)
	t.Setenv("TMPDIR", mnt) // where --dev makes its state dir
	var logs logBuffer
	o := quietOptions()
	o.Config, o.Dev, o.Logger = cfg, true, logs.Logger()
	// Some 80 events (about 400 bytes each): the 300 flaps below overflow
	// it, and the score of events after them (the state check, the mesh,
	// the unit's failure and heal) leave the newest flaps in memory.
	o.outboxMemory = 32 << 10
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
	flooded := st.emitted
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
	// Broken as it is, the agent meshes and heals.
	m.meshes(t, &testNode{cfg: cfg, agent: a}, checks.Crit)
	m.failAndHeal(t, a)
	if st := a.bus.stats(); st.outbox.Err == nil {
		t.Fatalf("outbox %+v: the state dir works again before heal(); the heal must happen while it is broken", st.outbox)
	} else if since := st.emitted - flooded; uint64(st.outbox.MemoryEvents) <= since {
		// Not the agent's fault: memory is too small for this test.
		t.Fatalf("memory holds %d events, %d were emitted after the last flap: raise outboxMemory", st.outbox.MemoryEvents, since)
	}

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
	if !healed(t, stream) {
		t.Fatal("the unit's failure and heal, emitted after the flaps while the directory was broken, are not in the stream")
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

// brokenNodeMesh is what a broken agent must keep doing besides counting
// its events: meshing with a healthy peer and healing its units. Both
// agents are collectors of a two-host inventory on loopback (so the
// cluster doctor counts both); the broken one supervises a stand-in
// collector unit through the exec backend: shell scripts and a state file
// in a healthy temporary directory, never on the broken state dir.
type brokenNodeMesh struct {
	self, peerName string
	inv            string
	unitDir        string
	peer           *testNode
}

// standInUnit matches the collector rule of supervisor.DefaultRules.
const standInUnit = "kuma-collector-standin.service"

// meshTimeout bounds every wait for the mesh, a query or a heal: generous
// for a machine with both cores burnt; the waits end as soon as the
// condition holds.
const meshTimeout = 60 * time.Second

// newBrokenNodeMesh writes the inventory and the stand-in unit (active)
// and starts the healthy peer with events off (the stream then holds the
// broken node's events only). Call it before TMPDIR moves to a tmpfs: the
// peer's --dev state dir must be healthy.
func newBrokenNodeMesh(t *testing.T, self, selfSuffix, peerSuffix string) *brokenNodeMesh {
	t.Helper()
	m := &brokenNodeMesh{self: self, peerName: "peer.test.local", unitDir: t.TempDir()}
	m.inv = filepath.Join(t.TempDir(), "inventory.yml")
	inv := fmt.Sprintf("kuma:\n  children:\n    kuma_collector:\n      hosts:\n        %s:\n          ip: %s\n        %s:\n          ip: %s\n",
		self, testNet+selfSuffix, m.peerName, testNet+peerSuffix)
	if err := os.WriteFile(m.inv, []byte(inv), 0o644); err != nil {
		t.Fatal(err)
	}
	// LSB status: 0 active, 1 failed, 3 stopped, 4 unknown (a state file
	// caught mid-write: the supervisor reads it again). start counts
	// itself and makes the unit active.
	script := `d=$(dirname "$0")
case $2 in
status)
	read -r s < "$d/state"
	case $s in active) exit 0;; failed) exit 1;; stopped) exit 3;; *) exit 4;; esac;;
start)
	echo "$1" >> "$d/starts"
	echo active > "$d/state.new" && mv "$d/state.new" "$d/state";;
*) exit 2;;
esac
`
	if err := os.WriteFile(filepath.Join(m.unitDir, "unit.sh"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	m.setUnit(t, "active")

	cfg := devConfig(t, m.peerName, peerSuffix)
	m.configure(&cfg)
	cfg.Events.Enabled = false
	cfg.Supervisor.Enabled = false // the stand-in unit is the broken node's
	o := quietOptions()
	o.Dev = true
	tc := &testCluster{nodes: map[string]*testNode{}}
	tc.start(t, m.peerName, cfg, o)
	m.peer = tc.nodes[m.peerName]
	return m
}

// configure makes cfg a node of the two-host inventory: the checks that
// need a real host (KUMA ports, /etc/hosts, NTP servers) off, 5 s cluster
// queries, and the broken node's supervisor (the peer's is off again).
func (m *brokenNodeMesh) configure(cfg *config.Config) {
	cfg.Inventory = m.inv
	cfg.Checks.Disabled = []string{"ntp", "hostname", "hosts", "ports", "reach"}
	cfg.Mesh.QueryTimeout = 5 * time.Second
	sh := filepath.Join(m.unitDir, "unit.sh")
	cfg.Supervisor.Enabled = true
	cfg.Supervisor.Backend = "exec"
	cfg.Supervisor.Exec = config.ExecBackend{Units: []string{standInUnit},
		Status: []string{"/bin/sh", sh, "{{.Unit}}", "status"}, Start: []string{"/bin/sh", sh, "{{.Unit}}", "start"},
		ResetFailed: []string{}, PollInterval: 200 * time.Millisecond}
	cfg.Supervisor.Rejoin.Enabled = false
	cfg.Supervisor.HealTimeout = meshTimeout
}

// setUnit sets the stand-in unit's state as its status command reads it
// (renamed into place: never read half-written).
func (m *brokenNodeMesh) setUnit(t *testing.T, state string) {
	t.Helper()
	tmp := filepath.Join(m.unitDir, "state.test")
	if err := os.WriteFile(tmp, []byte(state+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(m.unitDir, "state")); err != nil {
		t.Fatal(err)
	}
}

func (m *brokenNodeMesh) unit(t *testing.T) (state string, starts int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(m.unitDir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := os.ReadFile(filepath.Join(m.unitDir, "starts"))
	return strings.TrimSpace(string(b)), strings.Count(string(s), "\n")
}

// meshes asserts that the broken node and the peer each see both alive
// (and believed: in the inventory at their addresses), and that doctor
// --cluster asked on either is answered by both, the broken node's state
// finding at wantState: the peer is told what is wrong with it.
func (m *brokenNodeMesh) meshes(t *testing.T, broken *testNode, wantState checks.Status) {
	t.Helper()
	nodes := map[string]*testNode{m.self: broken, m.peerName: m.peer}
	for name, n := range nodes {
		eventually(t, name+" seeing "+m.self+" and "+m.peerName+" alive", meshTimeout, func() bool {
			ms := n.members(t)
			return len(ms) == 2 && ms[m.self].Status == "alive" && ms[m.peerName].Status == "alive" &&
				ms[m.self].Ignored == "" && ms[m.peerName].Ignored == ""
		})
	}
	for name, n := range nodes {
		var err error
		var hosts, unanswered []string
		var state string // the broken node's state finding
		answered := func() bool {
			var rep control.ClusterReport
			err = n.freshDoctor(t, &rep)
			hosts, unanswered, state = nil, rep.Unanswered, ""
			for _, node := range rep.Nodes {
				hosts = append(hosts, node.Host)
				for _, f := range node.Findings {
					if node.Host == m.self && f.Check == "state" {
						state = f.Status
					}
				}
			}
			return err == nil && len(hosts) == 2 && len(unanswered) == 0 && state == wantState.String()
		}
		// A query's answer can be lost on a loaded machine (the report
		// then names the silent node): ask again until both answered.
		for deadline := time.Now().Add(meshTimeout); !answered(); time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("doctor --cluster on %s within %v: err %v, answered by %v, unanswered %v, %s's state finding %q; want both answering, state %v",
					name, meshTimeout, err, hosts, unanswered, m.self, state, wantState)
			}
		}
	}
}

// failAndHeal fails the stand-in unit and waits until the broken node's
// supervisor started it once and reads it running again.
func (m *brokenNodeMesh) failAndHeal(t *testing.T, a *Agent) {
	t.Helper()
	if st, starts := m.unit(t); st != "active" || starts != 0 {
		t.Fatalf("stand-in unit %s after %d starts before the failure; want active, never started", st, starts)
	}
	m.setUnit(t, "failed")
	var st string
	var starts int
	var units []supervisor.UnitStatus
	restarted := func() bool {
		st, starts = m.unit(t)
		units = a.sup.Units()
		if st != "active" || starts == 0 {
			return false
		}
		for _, u := range units {
			if u.Unit == standInUnit {
				return u.Condition == supervisor.Running.String() && !u.Healing && u.Attempts == 1
			}
		}
		return false
	}
	for deadline := time.Now().Add(meshTimeout); !restarted(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the failed unit not restarted within %v: state %q after %d starts; supervisor: %+v", meshTimeout, st, starts, units)
		}
	}
	if _, starts := m.unit(t); starts != 1 {
		t.Fatalf("the unit was started %d times, want once", starts)
	}
}

// healed reports whether stream holds the stand-in unit's heal: its
// failure, a healing.started and a healing.finished saying it is active.
func healed(t *testing.T, stream []events.Event) bool {
	t.Helper()
	var failed, started, finished bool
	for _, e := range stream {
		if e.Subject != standInUnit {
			continue
		}
		switch e.ShortType() {
		case events.UnitStateChanged:
			var d events.UnitData
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatal(err)
			}
			failed = failed || d.ActiveState == "failed"
		case events.HealingStarted:
			started = true
		case events.HealingFinished:
			var d events.HealingData
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatal(err)
			}
			finished = d.Result == "active" && e.Severity == events.SeverityInfo
		}
	}
	return failed && started && finished
}
