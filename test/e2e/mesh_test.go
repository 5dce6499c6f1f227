package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/doctor"
	"github.com/kuma-agent/kuma-agent/internal/testlab/sandbox"
)

// TestMeshEndToEnd runs the real `kuma-agent run` for a 3-Core Raft
// cluster, one agent per network namespace (10.99.0.1-3), plus a fourth
// host with the wrong gossip key, and walks through what operators rely on:
// the mesh forms from the inventory, a crash and a cut-off host are seen
// as failed and come back, a restart rejoins from the snapshot alone, a
// wrong key never joins, doctor --cluster (the CLI) names a cloned
// machine-id and a skewed clock, and leave is final.
//
//	sudo go test -count=1 -run TestMeshEndToEnd -v ./test/e2e/
func TestMeshEndToEnd(t *testing.T) {
	m := newMesh(t, meshOpts{Hosts: 4, Inventory: 3})
	core := []int{1, 2, 3}
	n1, n2, n3 := nodeName(1), nodeName(2), nodeName(3)

	// a. The mesh forms from the inventory alone (no retry_join set).
	for _, i := range core {
		m.start(i)
	}
	d := eventually(t, "3 alive members in every core's view", 30*time.Second, func() bool { return m.aliveIn(core, 3) })
	t.Logf("a. mesh of 3 formed in %v", d.Round(time.Millisecond))
	// The first check round publishes health; then the cluster is green.
	var rep clusterReport
	eventually(t, "doctor --cluster ok on a healthy mesh", 20*time.Second, func() bool {
		rep = m.mustDoctor(1)
		return rep.code == 0
	})
	if len(rep.Nodes) != 3 || len(rep.Unanswered) != 0 || rep.Self != n1 {
		fatalf(t, "a. doctor --cluster: self %s, %d nodes, unanswered %v", rep.Self, len(rep.Nodes), rep.Unanswered)
	}

	// b. kill -9 core-3: the others mark it failed.
	t0 := time.Now()
	m.node(3).proc.Kill()
	d = m.waitDetected([]int{1, 2}, n3, "failed", t0, 20*time.Second)
	t.Logf("b. kill -9 of core-3 detected by both others in %v", d.Round(time.Millisecond))
	rep = m.mustDoctor(1)
	if !slices.Equal(rep.Unanswered, []string{n3}) || rep.code == 0 {
		errorf(t, "b. doctor --cluster after the crash: exit %d, unanswered %v", rep.code, rep.Unanswered)
	}
	if r := rep.result("cluster-members"); r.Status != checks.Crit || !strings.Contains(r.Message+strings.Join(r.Details, " "), n3) {
		errorf(t, "b. cluster-members: %v %q %v", r.Status, r.Message, r.Details)
	}

	// d. (before c, so that c has two observers) Restart core-3: it rejoins.
	m.start(3)
	d = eventually(t, "core-3 alive again everywhere", 20*time.Second, func() bool { return m.aliveIn(core, 3) })
	t.Logf("d. restarted core-3 rejoined in %v", d.Round(time.Millisecond))
	// Once more, with retry_join pointing nowhere: only the serf snapshot
	// in its state dir can bring it back.
	m.stop(3)
	m.waitDetected([]int{1, 2}, n3, "failed", time.Now(), 20*time.Second)
	n := m.node(3)
	saved := n.cfg
	n.cfg.Mesh.RetryJoin = []string{m.lab.Addr(3) + ":1"}
	n.writeConfig(t)
	m.start(3)
	d = eventually(t, "core-3 back from its snapshot alone", 20*time.Second, func() bool { return m.aliveIn(core, 3) })
	t.Logf("d. core-3 rejoined from its snapshot in %v", d.Round(time.Millisecond))
	if log := n.currentLog(); !strings.Contains(log, "gossip join failed") || !strings.Contains(log, "Re-joined to previously known node") {
		errorf(t, "d. core-3 did not fail its retry_join and rejoin from the snapshot; the test proves nothing")
	}
	n.cfg = saved
	n.writeConfig(t)

	// c. Cut core-2 off the switch: failed for the others; heal: alive.
	t0 = time.Now()
	if err := m.lab.CutOff(2); err != nil {
		fatal(t, err)
	}
	d = m.waitDetected([]int{1, 3}, n2, "failed", t0, 20*time.Second)
	t.Logf("c. cut-off of core-2 detected by both others in %v", d.Round(time.Millisecond))
	if err := m.lab.Heal(2); err != nil {
		fatal(t, err)
	}
	d = eventually(t, "core-2 alive again after heal", 45*time.Second, func() bool { return m.aliveIn(core, 3) })
	t.Logf("c. healed core-2 alive everywhere after %v", d.Round(time.Millisecond))

	// e. Host 4 (not in the inventory, joining the inventory's hosts) has
	// another keyring: it must never get in.
	n4 := m.node(4)
	other := filepath.Join(filepath.Dir(n4.cfgPath), "other-key")
	if err := os.MkdirAll(other, 0o700); err != nil {
		fatal(t, err)
	}
	kf, err := sandbox.WriteKeyring(other)
	if err != nil {
		fatal(t, err)
	}
	n4.cfg.Mesh.KeyringFile = kf
	n4.writeConfig(t)
	m.start(4)
	// Its first join attempt fails, then it retries after ~1 s and ~2 s.
	eventually(t, "core-4 tried to join twice", 20*time.Second, func() bool {
		return strings.Count(n4.currentLog(), "gossip join failed") >= 2
	})
	if ms, err := m.members(4); err != nil || len(ms) != 1 {
		errorf(t, "e. the wrong-key agent sees %d members (%v)", len(ms), err)
	}
	for _, i := range core {
		ms, err := m.members(i)
		if _, in := ms[nodeName(4)]; err != nil || in || len(ms) != 3 {
			errorf(t, "e. host %d sees %d members, core-4 among them: %v (%v)", i, len(ms), in, err)
		}
	}
	m.stop(4)

	// f. core-3 becomes a clone of core-1 (same machine-id files) and
	// core-2's agent answers time queries 3 s ahead: doctor --cluster
	// names both and exits 2.
	n = m.node(3)
	n.cfg.Paths.MachineIDFiles = m.node(1).cfg.Paths.MachineIDFiles
	n.writeConfig(t)
	m.node(2).env = []string{"KUMA_AGENT_TEST_CLOCK_OFFSET=3s"}
	m.stop(3)
	m.stop(2)
	m.start(3)
	m.start(2)
	defer func() {
		if t.Failed() {
			id, clk := rep.result("cluster-machine-id"), rep.result("cluster-clock")
			t.Logf("last doctor --cluster: exit %d, %d nodes, unanswered %v; machine-id %v %q; clock %v %q %v",
				rep.code, len(rep.Nodes), rep.Unanswered, id.Status, id.Message, clk.Status, clk.Message, clk.Details)
		}
	}()
	eventually(t, "doctor --cluster names the clone and the skewed clock", 60*time.Second, func() bool {
		rep = m.mustDoctor(1)
		id, clk := rep.result("cluster-machine-id"), rep.result("cluster-clock")
		return rep.code == 2 && len(rep.Nodes) == 3 &&
			id.Status == checks.Crit && strings.Contains(id.Message, n1) && strings.Contains(id.Message, n3) &&
			clk.Status == checks.Crit && strings.Contains(clk.Message+strings.Join(clk.Details, " "), n2)
	})
	clk := rep.result("cluster-clock")
	if strings.Contains(clk.Message, n1) || strings.Contains(clk.Message, n3) {
		errorf(t, "f. cluster-clock blames a node whose clock is right: %q", clk.Message)
	}
	t.Logf("f. doctor --cluster: exit %d; machine-id: %s; clock: %s %v", rep.code, rep.result("cluster-machine-id").Message, clk.Message, clk.Details)

	// g. `kuma-agent leave` on core-2: the others list it as left.
	out, err := m.lab.Exec(2, m.bin, "leave", "--config", m.node(2).cfgPath).CombinedOutput()
	if err != nil {
		fatalf(t, "g. leave: %v: %s", err, out)
	}
	m.waitDetected([]int{1, 3}, n2, "left", time.Now(), 20*time.Second)
	t.Log("g. core-2 left; the others list it as left")
}

// clusterReport is doctor --cluster's JSON with the CLI's exit code.
type clusterReport struct {
	doctor.ClusterReport
	code int
}

func (r clusterReport) result(name string) checks.Result {
	if f, ok := r.Cluster(name); ok {
		return checks.Result{Status: f.Status, Message: f.Message, Details: f.Details, Remedy: f.Remedy}
	}
	return checks.Result{Status: checks.Unknown, Message: name + " missing from the report"}
}

// mustDoctor runs the CLI against node i (--fresh: these steps are about
// gathering and judging now) and fails the test if it cannot.
func (m *meshLab) mustDoctor(i int) clusterReport {
	m.t.Helper()
	rep, code, err := m.doctorCLI(i, "--fresh")
	if err != nil {
		fatal(m.t, err)
	}
	return clusterReport{ClusterReport: rep, code: code}
}
