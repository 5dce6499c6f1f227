package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/doctor"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/testlab"
	"github.com/kuma-agent/kuma-agent/internal/testlab/netlab"
)

// evalInterval is the check interval of TestClusterChecksContinuously; the
// evaluator's lease TTL is three of them (agent/evaluator.go).
const (
	evalInterval = 2 * time.Second
	evalTTL      = 3 * evalInterval
	evalJitter   = 0.1 // config.Default's checks.jitter
)

// clusterChange is one cluster.status_changed event, decoded.
type clusterChange struct {
	id   string
	at   time.Time
	node string // the event's source: the evaluator that published it
	data events.ClusterCheckData
}

func decodeChange(e events.Event) (clusterChange, bool) {
	var d events.ClusterCheckData
	if e.ShortType() != events.ClusterStatusChanged || json.Unmarshal(e.Data, &d) != nil {
		return clusterChange{}, false
	}
	return clusterChange{id: e.ID, at: e.Time, node: nodeOf(e), data: d}, true
}

// changes are the cluster.status_changed events of check with transition
// tr published since t0, read from the stream through node i's CLI.
// A failed read logs and returns none: for waits that read again.
func (m *meshLab) changes(i int, check, tr string, t0 time.Time) []clusterChange {
	m.t.Helper()
	evs, err := m.tryEvents(i, events.ClusterStatusChanged)
	if err != nil {
		m.t.Logf("events on host %d: %v", i, err)
		return nil
	}
	return filterChanges(evs, check, tr, t0)
}

// countedChanges is changes for a final count in test t (settledEvents).
func (m *meshLab) countedChanges(t testing.TB, i int, check, tr string, t0 time.Time) []clusterChange {
	t.Helper()
	return filterChanges(m.settledEvents(t, i, events.ClusterStatusChanged), check, tr, t0)
}

func filterChanges(evs []events.Event, check, tr string, t0 time.Time) []clusterChange {
	var out []clusterChange
	for _, e := range evs {
		c, ok := decodeChange(e)
		if ok && c.data.Check == check && c.data.Transition == tr && !c.at.Before(t0) {
			out = append(out, c)
		}
	}
	return out
}

// alertsLog is the file the alerts subscriber's command action appends
// every cluster.status_changed to, one event a line.
func (m *meshLab) alertsLog() string { return filepath.Join(m.dir, "alerts", "cluster-alerts.log") }

// startAlerts runs the real `kuma-agent alerts` subscriber in host i with a
// command action writing each cluster.status_changed event to alertsLog.
func (m *meshLab) startAlerts(i int) *netlab.Proc {
	m.t.Helper()
	dir := filepath.Dir(m.alertsLog())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fatal(m.t, err)
	}
	conf := fmt.Sprintf(`rules:
  - name: cluster
    match:
      types: [cluster.status_changed]
    actions: [record]
actions:
  record:
    type: command
    command: ["/bin/sh", "-c", "{ cat; echo; } >> %s"]
`, m.alertsLog())
	path := filepath.Join(dir, "alerts.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		fatal(m.t, err)
	}
	log := filepath.Join(dir, "alerts.out")
	p, err := m.lab.StartCmd(m.lab.Exec(i, m.bin, "alerts", "--config", path, "--agent-config", m.node(i).cfgPath), log)
	if err != nil {
		fatal(m.t, err)
	}
	eventually(m.t, "kuma-agent alerts running", 30*time.Second, func() bool {
		b, _ := os.ReadFile(log)
		return strings.Contains(string(b), "kuma-agent alerts running")
	})
	return p
}

// alerted is the distinct events of check with transition tr since t0 that
// the alerts command recorded, and how many times it ran for them.
func (m *meshLab) alerted(check, tr string, t0 time.Time) (distinct []clusterChange, runs int) {
	f, err := os.Open(m.alertsLog())
	if err != nil {
		return nil, 0
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var e events.Event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		for _, c := range filterChanges([]events.Event{e}, check, tr, t0) {
			runs++
			if !seen[c.id] {
				seen[c.id] = true
				distinct = append(distinct, c)
			}
		}
	}
	return distinct, runs
}

// evaluation is node i's answer to `doctor --cluster` (not --fresh): the
// latest continuous evaluation.
func (m *meshLab) evaluation(i int) (doctor.ClusterReport, error) {
	rep, _, err := m.doctorCLI(i)
	return rep, err
}

// faultPhase injects a fault, waits for its one raise on the stream and in
// the alerts subscriber, removes it, waits for its one clear, and checks
// that the fault was raised exactly once and cleared exactly once.
func (m *meshLab) faultPhase(name, check string, observer int, inject, remove func()) {
	t := m.t
	t.Helper()
	const within = 60 * time.Second
	t0 := time.Now()
	inject()
	var raised []clusterChange
	d := eventually(t, name+": "+check+" raised on the stream", within, func() bool {
		raised = m.changes(observer, check, events.TransitionRaised, t0)
		return len(raised) > 0
	})
	r := raised[0].data
	t.Logf("%s: %s raised %s by %s %v after the injection: %s (nodes %v)", name, check, r.Status, raised[0].node,
		d.Round(100*time.Millisecond), r.Message, r.Nodes)
	if r.Remedy == "" || r.Message == "" || r.Evaluator != raised[0].node {
		errorf(t, "%s: raise without message/remedy or from another node than its evaluator: %+v (source %s)", name, r, raised[0].node)
	}
	eventually(t, name+": the alerts command ran for the raise", within, func() bool {
		a, _ := m.alerted(check, events.TransitionRaised, t0)
		return len(a) > 0
	})
	// A few more evaluations with the fault in place: still one raise.
	time.Sleep(3 * evalInterval)
	t1 := time.Now()
	remove()
	var cleared []clusterChange
	d = eventually(t, name+": "+check+" cleared on the stream", within, func() bool {
		cleared = m.changes(observer, check, events.TransitionCleared, t1)
		return len(cleared) > 0
	})
	t.Logf("%s: %s cleared by %s %v after the removal", name, check, cleared[0].node, d.Round(100*time.Millisecond))
	eventually(t, name+": the alerts command ran for the clear", within, func() bool {
		a, _ := m.alerted(check, events.TransitionCleared, t1)
		return len(a) > 0
	})
	time.Sleep(2 * evalInterval)
	raised = m.countedChanges(t, observer, check, events.TransitionRaised, t0)
	cleared = m.countedChanges(t, observer, check, events.TransitionCleared, t0)
	ar, runs := m.alerted(check, events.TransitionRaised, t0)
	ac, _ := m.alerted(check, events.TransitionCleared, t0)
	if len(raised) != 1 || len(cleared) != 1 || len(ar) != 1 || len(ac) != 1 {
		errorf(t, "%s: %s raised %d times and cleared %d times on the stream, alerted %d/%d distinct times; want exactly 1 each",
			name, check, len(raised), len(cleared), len(ar), len(ac))
	}
	t.Logf("%s: one raise, one clear (alerts command ran %d time(s) for the raise)", name, runs)
}

// TestClusterChecksContinuously runs three agents on systemd-nspawn hosts
// (each supervising a fake KUMA Core; JetStream on all three) and injects,
// one after the other, a hosts file that disagrees, a blocked Raft port, a
// quorum margin of 0 (one Core stopped), a duplicate machine-id and a
// clock 2 s off: each is raised exactly once on the stream as
// cluster.status_changed, alerted through the real `kuma-agent alerts`,
// and cleared once when removed. Then the evaluator's agent is killed
// (kill -9) while a fault persists: another node takes the evaluation over
// within one lease TTL plus one interval and does not raise it again.
//
//	sudo go test -tags kumatesthooks -count=1 -run TestClusterChecksContinuously -v ./test/e2e/
func TestClusterChecksContinuously(t *testing.T) {
	needE2E(t)
	testlab.NeedTools(t, "nft") // the blocked Raft port
	m := newMesh(t, meshOpts{Hosts: 3, Containers: true, Interval: evalInterval})
	for i := 1; i <= 3; i++ {
		m.start(i)
	}
	eventually(t, "mesh of 3", 30*time.Second, func() bool { return m.aliveIn(hosts(3), 3) })
	eventually(t, "event history readable", 60*time.Second, func() bool {
		evs, err := m.tryEvents(1, events.AgentStarted)
		return err == nil && len(evs) >= 3
	})
	m.startAlerts(1)

	// The baseline: one evaluator, the whole cluster ok in its evaluation,
	// the same on every node.
	var rep doctor.ClusterReport
	eventually(t, "a continuous evaluation with every cluster check ok", 60*time.Second, func() bool {
		var err error
		rep, err = m.evaluation(2)
		if err != nil || rep.Fresh || rep.Evaluator == "" {
			return false
		}
		for _, f := range rep.Findings {
			if f.Host == doctor.ClusterHost && f.Status != checks.OK {
				return false
			}
		}
		return true
	})
	for _, i := range []int{1, 3} {
		r, err := m.evaluation(i)
		if err != nil || r.Evaluator != rep.Evaluator {
			errorf(t, "host %d: evaluator %q (%v), host 2 says %q: more than one evaluator?", i, r.Evaluator, err, rep.Evaluator)
		}
	}
	t.Logf("baseline: %s evaluates, evaluation %.1fs old", rep.Evaluator, rep.AgeSeconds)

	// 1. Host 2's /etc/hosts maps core-1 to a second, wrong address.
	orig := map[int][]byte{}
	for i := 1; i <= 3; i++ {
		b, err := os.ReadFile(m.node(i).cfg.Paths.HostsFile)
		if err != nil {
			fatal(t, err)
		}
		orig[i] = b
	}
	wrongHosts := func(to int) func() {
		return func() {
			line := fmt.Sprintf("\n10.99.7.7 %s\n", nodeName(1))
			if err := os.WriteFile(m.node(to).cfg.Paths.HostsFile, append(slices.Clone(orig[to]), line...), 0o644); err != nil {
				fatal(t, err)
			}
		}
	}
	restoreHosts := func(to int) func() {
		return func() {
			if err := os.WriteFile(m.node(to).cfg.Paths.HostsFile, orig[to], 0o644); err != nil {
				fatal(t, err)
			}
		}
	}
	m.faultPhase("hosts file", "cluster-hosts", 3, wrongHosts(2), restoreHosts(2))

	// 2. Host 2 drops the Raft port (7209) in its namespace.
	nft := func(i int, args ...string) {
		if out, err := m.lab.Exec(i, "nft", args...).CombinedOutput(); err != nil {
			fatalf(t, "host %d: nft %v: %v: %s", i, args, err, out)
		}
	}
	m.faultPhase("raft port", "cluster-reachability", 3,
		func() {
			nft(2, "add", "table", "inet", "kuma_e2e")
			nft(2, "add", "chain", "inet", "kuma_e2e", "in", "{ type filter hook input priority 0 ; }")
			nft(2, "add", "rule", "inet", "kuma_e2e", "in", "tcp", "dport", "7209", "drop")
		},
		func() { nft(2, "delete", "table", "inet", "kuma_e2e") })

	// 3. Quorum margin 0: one of the three Cores stopped (an operator's
	// stop: the supervisor leaves an inactive unit alone).
	m.faultPhase("quorum margin 0", "cluster-quorum", 1,
		func() { m.systemctl(3, "stop", coreUnit(3)) },
		func() { m.systemctl(3, "start", coreUnit(3)) })

	// 4 and 5. Host 3 becomes a clone of host 1 (its machine-id files) and
	// answers time queries 2 s ahead (the test hook): one restart of its
	// agent injects both, one removes both; each check is counted on its own.
	n3 := m.node(3)
	saved := n3.cfg
	restart3 := func(clone bool) {
		n3.cfg = saved
		n3.env = nil
		if clone {
			n3.cfg.Paths.MachineIDFiles = m.node(1).cfg.Paths.MachineIDFiles
			n3.env = []string{"KUMA_AGENT_TEST_CLOCK_OFFSET=2s"}
		}
		n3.writeConfig(t)
		m.stop(3)
		m.start(3)
	}
	t0 := time.Now()
	restart3(true)
	for _, check := range []string{"cluster-machine-id", "cluster-clock"} {
		eventually(t, check+" raised", 60*time.Second, func() bool { return len(m.changes(1, check, events.TransitionRaised, t0)) > 0 })
		eventually(t, check+" alerted", 60*time.Second, func() bool { a, _ := m.alerted(check, events.TransitionRaised, t0); return len(a) > 0 })
	}
	eventually(t, "cluster-clock critical (2 s > the 1 s limit) after its damping", 60*time.Second, func() bool {
		return len(m.changes(1, "cluster-clock", events.TransitionChanged, t0)) > 0
	})
	t1 := time.Now()
	restart3(false)
	for _, check := range []string{"cluster-machine-id", "cluster-clock"} {
		eventually(t, check+" cleared", 60*time.Second, func() bool { return len(m.changes(1, check, events.TransitionCleared, t1)) > 0 })
		eventually(t, check+" clear alerted", 60*time.Second, func() bool { a, _ := m.alerted(check, events.TransitionCleared, t1); return len(a) > 0 })
	}
	time.Sleep(2 * evalInterval)
	for _, check := range []string{"cluster-machine-id", "cluster-clock"} {
		raised, cleared := m.countedChanges(t, 1, check, events.TransitionRaised, t0), m.countedChanges(t, 1, check, events.TransitionCleared, t0)
		ar, _ := m.alerted(check, events.TransitionRaised, t0)
		if len(raised) != 1 || len(cleared) != 1 || len(ar) != 1 {
			errorf(t, "clone and clock: %s raised %d, cleared %d times, alerted %d; want 1 each", check, len(raised), len(cleared), len(ar))
		} else {
			t.Logf("clone and clock: %s raised once by %s (%s), cleared once by %s", check, raised[0].node, raised[0].data.Message, cleared[0].node)
		}
	}

	// 6. Handover: a fault raised by the evaluator E persists while E's
	// agent is killed; another node takes over within one TTL plus one
	// interval, does not raise it again, and clears it when it goes.
	eventually(t, "a continuous evaluation after the restarts", 60*time.Second, func() bool {
		var err error
		rep, err = m.evaluation(1)
		return err == nil && !rep.Fresh && rep.Evaluator != ""
	})
	victim := slices.IndexFunc(m.nodes, func(n *agentNode) bool { return n.name == rep.Evaluator }) + 1
	if victim == 0 {
		fatalf(t, "evaluator %q is no node of the lab", rep.Evaluator)
	}
	faulty := 1 + victim%3       // another host: its fault survives the kill
	observer := 1 + (victim+1)%3 // the third host reads the stream
	tFault := time.Now()
	wrongHosts(faulty)()
	eventually(t, "handover: cluster-hosts raised before the kill", 60*time.Second, func() bool {
		return len(m.changes(observer, "cluster-hosts", events.TransitionRaised, tFault)) > 0
	})
	tKill := time.Now()
	m.node(victim).proc.Kill()
	var taken []events.Event
	eventually(t, "another node took the cluster-checks lease over", evalTTL+3*evalInterval+30*time.Second, func() bool {
		evs, err := m.tryEvents(observer, events.LeaseTakenOver)
		if err != nil {
			return false
		}
		taken = nil
		for _, e := range evs {
			var d events.LeaseData
			if json.Unmarshal(e.Data, &d) == nil && d.Purpose == "cluster-checks" && d.Previous == rep.Evaluator && !e.Time.Before(tKill) {
				taken = append(taken, e)
			}
		}
		return len(taken) > 0
	})
	took := taken[0].Time.Sub(tKill)
	bound := evalTTL + time.Duration(float64(evalInterval)*(1+evalJitter))
	t.Logf("FIGURE evaluator handover: kill -9 of %s -> %s holds cluster-checks in %v (bound: TTL %v + interval %v x %.1f = %v)",
		rep.Evaluator, nodeOf(taken[0]), took.Round(10*time.Millisecond), evalTTL, evalInterval, 1+evalJitter, bound)
	if took > bound+time.Second { // a second for the acquisition's own round trips and the event's timestamp
		errorf(t, "handover took %v, more than one lease TTL plus one interval (%v)", took, bound)
	}
	eventually(t, "the new evaluator's evaluation on the observer", 30*time.Second, func() bool {
		r, err := m.evaluation(observer)
		return err == nil && !r.Fresh && r.Evaluator != rep.Evaluator && r.EvaluatedAt.After(tKill)
	})
	time.Sleep(3 * evalInterval)
	if raised := m.countedChanges(t, observer, "cluster-hosts", events.TransitionRaised, tFault); len(raised) != 1 {
		errorf(t, "handover: cluster-hosts raised %d times across the handover, want 1", len(raised))
	}
	restoreHosts(faulty)()
	var cleared []clusterChange
	eventually(t, "handover: cluster-hosts cleared by the new evaluator", 60*time.Second, func() bool {
		cleared = m.changes(observer, "cluster-hosts", events.TransitionCleared, tFault)
		return len(cleared) > 0
	})
	if cleared[0].node == rep.Evaluator || len(cleared) != 1 {
		errorf(t, "handover: cleared %d times, first by %s (the killed evaluator was %s)", len(cleared), cleared[0].node, rep.Evaluator)
	}
	t.Logf("handover: cluster-hosts raised once by %s, cleared once by %s after the takeover", rep.Evaluator, cleared[0].node)
}
