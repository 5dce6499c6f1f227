package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/corebackup"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/raftops"
)

// The Raft recoveries executed through the agents (`kuma-agent raft
// remove-node|restore-cluster --execute`) on nspawn hosts with the
// stand-in Core: the chosen Core comes back as a one-node cluster
// (the stand-in honours raft/.reset), backups are taken first, every step
// is an event, and a removal leaves the others' quorum intact. The
// machine is shared: every wait is generous and none is a measurement.

// TestRaftExecute3 restores a 3-Core cluster that lost its majority from
// a node whose unit has --raft.join.
func TestRaftExecute3(t *testing.T) {
	needE2E(t)
	m := raftLab(t, 3)
	m.loseMajority(2, 3)
	m.restoreCluster(3, 2)
}

// TestRaftExecute5 removes the broken Core of core-4 (restore-node: the
// cluster works without it) and then core-5 (remove-node) from a working
// 5-Core cluster, the others keeping their quorum each time, then loses
// the majority of the inventory's five and restores the cluster from a
// node with --raft.join; the removed nodes, without a Core unit, have
// nothing left to do.
func TestRaftExecute5(t *testing.T) {
	needE2E(t)
	m := raftLab(t, 5)

	t.Log("restore-node core-4 --execute: its host-side part, removing the broken Core")
	m.systemctl(4, "stop", coreUnit(4)) // broken
	eventually(t, "raft status: 4 of 5 alive", 90*time.Second, func() bool {
		out, _ := m.raftCLI(1, "status")
		return strings.Contains(out, "Raft Cores alive 4 of 5")
	})
	out, code := m.raftExecute(1, "restore-node", nodeName(4), "--execute")
	t.Logf("restore-node (exit %d):\n%s", code, out)
	if code != 0 || !strings.Contains(out, "Every step done.") || !strings.Contains(out, "--raft.join") {
		fatalf(t, "restore-node --execute: exit %d: %s", code, whyNot(out))
	}
	m.coreGone(4)
	m.backupTaken(4)
	m.stepEvents(1, raftops.ProcRestoreNode, []string{nodeName(4) + "/remove-core"})

	t.Log("remove-node core-5 --execute on a working cluster")
	out, code = m.raftExecute(1, "remove-node", nodeName(5), "--execute")
	t.Logf("remove-node (exit %d):\n%s", code, out)
	if code != 0 || !strings.Contains(out, "Every step done.") {
		fatalf(t, "remove-node --execute: exit %d: %s", code, whyNot(out))
	}
	m.coreGone(5)
	m.backupTaken(5)
	for i := 1; i <= 3; i++ {
		if st := m.activeState(i); st != "active" {
			fatalf(t, "host %d Core %s after removing core-5", i, st)
		}
	}
	eventually(t, "raft status: 3 of 5 alive, quorum 3, margin 0", 90*time.Second, func() bool {
		out, _ := m.raftCLI(1, "status")
		return strings.Contains(out, "Raft Cores alive 3 of 5, quorum 3: margin 0")
	})
	m.stepEvents(1, raftops.ProcRemoveNode, []string{nodeName(5) + "/remove-core"})

	m.loseMajority(3)
	m.restoreCluster(5, 3)
}

// raftLab boots n hosts, each an agent supervising its stand-in Core,
// and waits until every Core runs, the event history is readable (the
// lease bucket needs JetStream) and `raft status` sees every Core.
func raftLab(t *testing.T, n int) *meshLab {
	m := newMesh(t, meshOpts{Hosts: n, Containers: true})
	for i := 1; i <= n; i++ {
		m.start(i)
	}
	eventually(t, fmt.Sprintf("mesh of %d", n), 120*time.Second, func() bool { return m.aliveIn(hosts(n), n) })
	eventually(t, "event history readable", 180*time.Second, func() bool {
		evs, err := m.tryEvents(1, events.AgentStarted)
		return err == nil && len(evs) >= n
	})
	want := fmt.Sprintf("Raft Cores alive %d of %d", n, n)
	eventually(t, "raft status sees every Core", 120*time.Second, func() bool {
		out, _ := m.raftCLI(1, "status")
		return strings.Contains(out, want)
	})
	return m
}

// raftCLI runs `kuma-agent raft args... --config` of node i and returns
// its output and exit code.
func (m *meshLab) raftCLI(i int, args ...string) (string, int) {
	m.t.Helper()
	cmd := exec.Command(m.bin, append(append([]string{"raft"}, args...), "--config", m.node(i).cfgPath, "--timeout", "60s")...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	case err != nil:
		fatalf(m.t, "kuma-agent raft %s: %v", strings.Join(args, " "), err)
	}
	return string(out), 0
}

// raftExecute is raftCLI for a procedure, run again (up to three times,
// 2 s apart) while it is refused only because an agent was silent: the
// command's own advice, and on a busy machine one agent's answer may miss
// the query's window.
func (m *meshLab) raftExecute(i int, args ...string) (string, int) {
	m.t.Helper()
	for try := 1; ; try++ {
		out, code := m.raftCLI(i, args...)
		if code == 0 || try == 3 || !strings.Contains(out, "NO  every live agent answered") {
			return out, code
		}
		m.t.Logf("%s: an agent was silent (%s); again", strings.Join(args, " "), whyNot(out))
		time.Sleep(2 * time.Second)
	}
}

// loseMajority stops the Cores of down (an operator's stop: the
// supervisor leaves them alone) and waits until `raft status` on host 1
// shows the majority lost.
func (m *meshLab) loseMajority(down ...int) {
	m.t.Helper()
	m.t.Logf("the majority is lost: Cores of hosts %v stopped", down)
	for _, i := range down {
		m.systemctl(i, "stop", coreUnit(i))
	}
	eventually(m.t, "raft status: MAJORITY LOST", 120*time.Second, func() bool {
		out, _ := m.raftCLI(1, "status")
		return strings.Contains(out, "MAJORITY LOST")
	})
}

// restoreCluster runs restore-cluster --initial seed --execute from host
// 1 and checks every node: the seed's Core runs again as a one-node
// cluster without --raft.join (a drop-in, the vendor unit untouched), the
// others' Cores, working directories and units are gone, each backed up
// first, and every step was an event.
func (m *meshLab) restoreCluster(n, seed int) {
	t := m.t
	t.Helper()
	gone := slices.Clone(m.removed) // Cores removed before: a step there finds nothing to do
	seedJoins := m.systemctl(seed, "show", "-p", "ExecStart", "--value", coreUnit(seed))
	if !strings.Contains(seedJoins, "--raft.join") {
		fatalf(t, "the chosen node's unit has no --raft.join to remove: %s", seedJoins)
	}
	out, code := m.raftExecute(1, "restore-cluster", "--initial", nodeName(seed), "--execute")
	t.Logf("restore-cluster --execute (exit %d):\n%s", code, out)
	if code != 0 || !strings.Contains(out, "Every step done.") || !strings.Contains(out, "Left to do by hand") {
		fatalf(t, "restore-cluster --execute: exit %d: %s", code, whyNot(out))
	}
	// The chosen Core: active, led by itself alone, its unit without --raft.join.
	if st := m.activeState(seed); st != "active" {
		fatalf(t, "the chosen Core is %s", st)
	}
	exe := m.systemctl(seed, "show", "-p", "ExecStart", "--value", coreUnit(seed))
	if strings.Contains(exe, "--raft.join") || !strings.Contains(exe, "--raft.node.addr "+nodeName(seed)+":7209") {
		fatalf(t, "the chosen Core's ExecStart after the restore: %s", exe)
	}
	dropIn, err := m.ct.Host(seed).ReadFile("/etc/systemd/system/" + coreUnit(seed) + ".d/" + raftops.DropInName)
	if err != nil || !strings.Contains(string(dropIn), "ExecStart=\nExecStart=") {
		fatalf(t, "drop-in: %v\n%s", err, dropIn)
	}
	vendor, err := m.ct.Host(seed).ReadFile("/etc/systemd/system/" + coreUnit(seed))
	if err != nil || !strings.Contains(string(vendor), "--raft.join") {
		fatalf(t, "the unit file itself was edited: %v\n%s", err, vendor)
	}
	members, err := m.ct.Host(seed).ReadFile("/opt/kaspersky/kuma/core/" + coreID(seed) + "/raft/members")
	if err != nil || strings.TrimSpace(string(members)) != nodeName(seed)+":7209" {
		fatalf(t, "the chosen Core's Raft members after the reset: %v %q, want itself alone", err, members)
	}
	if _, err := m.ct.Host(seed).ReadFile("/opt/kaspersky/kuma/core/" + coreID(seed) + "/raft/.reset"); err == nil {
		fatal(t, "raft/.reset left behind: the Core did not honour it")
	}
	m.backupTaken(seed)
	// The others: no Core unit, no working directory, a backup each.
	var want []string
	for i := 1; i <= n; i++ {
		if !m.hadCore(i) {
			continue
		}
		want = append(want, nodeName(i)+"/stop-core")
	}
	for i := 1; i <= n; i++ {
		if i == seed || !m.hadCore(i) {
			continue
		}
		m.coreGone(i)
		m.backupTaken(i)
		want = append(want, nodeName(i)+"/remove-core")
	}
	want = append(want, nodeName(seed)+"/reset-seed")
	m.stepEvents(1, raftops.ProcRestoreCluster, want, gone...)
	eventually(t, "raft status: the chosen Core alive", 90*time.Second, func() bool {
		out, _ := m.raftCLI(1, "status")
		return strings.Contains(out, fmt.Sprintf("Raft Cores alive 1 of %d", n))
	})
}

// hadCore: host i's Core was there before the restore (remove-node took
// core-5's in TestRaftExecute5).
func (m *meshLab) hadCore(i int) bool {
	return !slices.Contains(m.removed, i)
}

// coreGone checks that host i has no Core unit and no working directory.
func (m *meshLab) coreGone(i int) {
	m.t.Helper()
	if ls := m.systemctl(i, "show", "-p", "LoadState", "--value", coreUnit(i)); ls != "not-found" {
		fatalf(m.t, "host %d: the Core unit is %s, want not-found", i, ls)
	}
	if _, err := os.Stat(filepath.Join(m.ct.Host(i).Root(), "opt/kaspersky/kuma/core", coreID(i))); !os.IsNotExist(err) {
		fatalf(m.t, "host %d: working directory still there: %v", i, err)
	}
	if !slices.Contains(m.removed, i) {
		m.removed = append(m.removed, i)
	}
}

// backupTaken checks that node i's agent archived its Core's working
// directory (a verified archive in its state directory).
func (m *meshLab) backupTaken(i int) {
	m.t.Helper()
	bs, err := corebackup.List(filepath.Join(m.node(i).cfg.StateDir, corebackup.DirName))
	if err != nil {
		fatal(m.t, err)
	}
	if !slices.ContainsFunc(bs, func(b corebackup.Backup) bool { return b.ID == coreID(i) && b.Verified }) {
		fatalf(m.t, "host %d: no verified backup of %s: %+v", i, coreID(i), bs)
	}
}

// stepEvents checks that procedure's latest operation has a started and a
// done event for each of want (node/step), in order, and no failure. The
// steps of hosts gone are ignored: a node whose Core was removed before
// may still be reported with its unit for a while (the supervisor re-reads
// a unit systemd unloaded at its next resync), and its agent answers that
// there is nothing to do.
func (m *meshLab) stepEvents(i int, procedure string, want []string, gone ...int) {
	m.t.Helper()
	var started, done []string
	defer func() {
		if m.t.Failed() {
			m.t.Logf("%s: raft.step_started %q, raft.step_done %q, want %q", procedure, started, done, want)
		}
	}()
	eventually(m.t, "raft.step_* events of "+procedure, 90*time.Second, func() bool {
		evs, err := m.tryEvents(i, events.RaftStepStarted, events.RaftStepDone, events.RaftStepFailed)
		if err != nil {
			return false
		}
		slices.SortStableFunc(evs, func(a, b events.Event) int { return a.Time.Compare(b.Time) })
		op := ""
		started, done = nil, nil
		for _, e := range evs {
			var d events.RaftStepData
			if json.Unmarshal(e.Data, &d) != nil || d.Procedure != procedure {
				continue
			}
			if d.Operation != op { // the latest operation of procedure
				op, started, done = d.Operation, nil, nil
			}
			if slices.ContainsFunc(gone, func(g int) bool { return nodeName(g) == d.Node }) {
				if e.Type == events.TypePrefix+string(events.RaftStepDone) && !strings.Contains(d.Result, "nothing to do") {
					fatalf(m.t, "a step on %s, whose Core was removed before, did something: %+v", d.Node, d)
				}
				continue
			}
			switch e.Type {
			case events.TypePrefix + string(events.RaftStepStarted):
				started = append(started, d.Node+"/"+d.Step)
			case events.TypePrefix + string(events.RaftStepDone):
				done = append(done, d.Node+"/"+d.Step)
			case events.TypePrefix + string(events.RaftStepFailed):
				fatalf(m.t, "step failed: %+v", d)
			}
		}
		// The started events too: each is stored before its done, but
		// a publish retried may land after it.
		return slices.Equal(done, want) && slices.Equal(started, want)
	})
	// Under the cluster lease raft-ops, taken and given back.
	eventually(m.t, "the raft-ops lease acquired and released as often", 90*time.Second, func() bool {
		evs, err := m.tryEvents(i, events.LeaseAcquired, events.LeaseReleased)
		if err != nil {
			return false
		}
		var acquired, released int
		for _, e := range evs {
			var d events.LeaseData
			if json.Unmarshal(e.Data, &d) != nil || d.Purpose != "raft-ops" {
				continue
			}
			if e.Type == events.TypePrefix+string(events.LeaseAcquired) {
				acquired++
			} else {
				released++
			}
		}
		return acquired > 0 && released == acquired
	})
	m.t.Logf("%s: every step an event: %q", procedure, done)
}

// whyNot picks from a raft command's output the lines that say why it
// failed (a precondition not met, a step refused or failed), for the
// failure message; the whole output is in the test's log above it.
func whyNot(out string) string {
	var why []string
	for _, l := range strings.Split(out, "\n") {
		for _, mark := range []string{"NO  ", "refused", "failed", "STOPPED", "Not ready", "Nothing to execute", "Error", "error"} {
			if strings.Contains(l, mark) {
				why = append(why, strings.TrimSpace(l))
				break
			}
		}
	}
	if len(why) == 0 {
		return "no line of the output says why (see the log above)"
	}
	return strings.Join(why, " | ")
}
