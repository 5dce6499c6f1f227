package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/doctor"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/inventory"
	"github.com/kuma-agent/kuma-agent/internal/kube"
	"github.com/kuma-agent/kuma-agent/internal/testlab"
	"github.com/kuma-agent/kuma-agent/internal/testlab/etcdlab"
	"github.com/kuma-agent/kuma-agent/internal/testlab/kubelab"
	"github.com/kuma-agent/kuma-agent/internal/testlab/netlab"
	"github.com/kuma-agent/kuma-agent/internal/testlab/sandbox"
)

// The control-plane lab: a k0s cluster of real agents in network
// namespaces, three controllers (hosts 1-3, each with a real etcd member
// on its address) and two workers (hosts 4-5), and a real kube-apiserver
// on host 6 (outside the inventory: the controllers' API, reachable from
// every host) storing into that etcd. The test plays the missing
// controllers: it registers the Nodes, binds the Core pod to worker 4 and
// marks Nodes NotReady or Ready.
const (
	cpControllers = 3
	cpWorkers     = 2
	cpAPIHost     = cpControllers + cpWorkers + 1
	coreWorker    = cpControllers + 1 // host 4 runs the Core pod
	otherWorker   = cpControllers + 2
	// cleanupAfter is supervisor.cleanup.after: short, so the lab's
	// removal happens soon after (the config's least: 1m; a cleanup round is 10 s).
	cleanupAfter = time.Minute
	// failoverAfter is kubernetes.failover.after.
	failoverAfter = 2 * time.Second
	coreNamespace = "kuma"
	corePodName   = "core-deployment-1"
)

// cpName is host i's inventory name (and its Kubernetes Node name).
func cpName(i int) string {
	if i <= cpControllers {
		return fmt.Sprintf("cp-%d.e2e.local", i)
	}
	return fmt.Sprintf("w-%d.e2e.local", i)
}

// controlPlane is the lab: agents (meshLab), etcd and the API server.
type controlPlane struct {
	*meshLab
	etcd *etcdlab.Cluster
	api  *kubelab.APIServer
	kube *kube.Client
}

func cpInventory(lab *netlab.Lab) string {
	var b strings.Builder
	b.WriteString("all:\n  vars:\n    deploy_to_k8s: true\nkuma_k0s:\n  children:\n")
	group := func(name string, from, to int) {
		fmt.Fprintf(&b, "    %s:\n      hosts:\n", name)
		for i := from; i <= to; i++ {
			fmt.Fprintf(&b, "        %s:\n          ansible_host: %s\n", cpName(i), lab.Addr(i))
		}
	}
	group("kuma_control_plane_master", 1, 1)
	group("kuma_control_plane", 2, cpControllers)
	group("kuma_worker", cpControllers+1, cpControllers+cpWorkers)
	return b.String()
}

// newControlPlane starts etcd, the API server, the stand-ins and the
// agents, and waits for a mesh of all five.
func newControlPlane(t *testing.T) *controlPlane {
	t.Helper()
	testlab.NeedRoot(t, "network namespaces")
	testlab.NeedTools(t, etcdlab.Tool, "nft")
	kubelab.Binary(t) // skips (fails under CI) before anything starts without it
	lab := netlab.New(t, cpAPIHost)
	m := &meshLab{t: t, lab: lab, bin: agentBinary(t), dir: t.TempDir()}
	t.Cleanup(func() {
		if t.Failed() {
			m.dumpLogs()
			keepLogs(t, m)
			repeatFailures(t)
		}
	})
	cp := &controlPlane{meshLab: m}
	var names []string
	var on []int
	for i := 1; i <= cpControllers; i++ {
		names, on = append(names, cpName(i)), append(on, i)
	}
	cp.etcd = etcdlab.Start(t, etcdlab.Options{Members: cpControllers, Names: names, Net: lab, On: on})
	t.Cleanup(func() {
		if t.Failed() {
			for _, mb := range cp.etcd.Members {
				t.Logf("==== etcd %s:\n%s", mb.Name, tailOf(mb.Log(), 4000))
			}
		}
	})
	cp.api = kubelab.Start(t, kubelab.Options{Etcd: cp.etcd, Net: lab, Host: cpAPIHost})
	cp.kube = cp.api.Client(t, kubelab.K0s)

	m.inv = filepath.Join(m.dir, "inventory.yml")
	if err := os.WriteFile(m.inv, []byte(cpInventory(lab)), 0o644); err != nil {
		fatal(t, err)
	}
	var err error
	if m.c, err = inventory.Load(m.inv); err != nil {
		fatal(t, err)
	}
	if m.c.Layout != cluster.LayoutK0s {
		fatalf(t, "inventory layout %s, want k0s", m.c.Layout)
	}
	if _, err := sandbox.WriteKeyring(m.dir); err != nil {
		fatal(t, err)
	}
	for i := 1; i <= cpControllers+cpWorkers; i++ {
		cfg, err := sandbox.WriteNode(m.dir, m.inv, m.c, m.c.Host(cpName(i)), sandbox.Fault{})
		if err != nil {
			fatal(t, err)
		}
		cp.configure(&cfg, i)
		nd := filepath.Dir(cfg.Agent.ControlSocket)
		n := &agentNode{host: i, name: cpName(i), cfg: cfg, cfgPath: filepath.Join(nd, "agent.yaml"), logPath: filepath.Join(nd, "agent.log")}
		n.writeConfig(t)
		m.nodes = append(m.nodes, n)
	}
	cp.startStandins()
	for i := 1; i <= cpControllers+cpWorkers; i++ {
		cp.api.CreateNode(t, cpName(i), "True")
	}
	cp.api.CreateNamespace(t, coreNamespace)
	cp.api.CreatePod(t, coreNamespace, corePodName, cpName(coreWorker), "Running")
	for i := 1; i <= cpControllers+cpWorkers; i++ {
		m.start(i)
	}
	eventually(t, "mesh of 5", 60*time.Second, func() bool { return m.aliveIn(hosts(cpControllers+cpWorkers), cpControllers+cpWorkers) })
	return cp
}

// configure points node i's agent at the lab's control plane: the
// layout's etcd PKI and admin kubeconfig written under the host's own
// root, short cleanup and failover timings, an exec supervisor whose k0s
// unit always runs (no systemd here: the quorum guard counts the
// controllers healthy by their units).
func (cp *controlPlane) configure(cfg *config.Config, i int) {
	t := cp.t
	root := filepath.Join(filepath.Dir(cfg.Agent.ControlSocket), "root")
	cfg.Mesh.BindAddr = cp.lab.Addr(i)
	cfg.Checks.Interval = 2 * time.Second
	cfg.Checks.Disk.MinFree = 1
	cfg.Checks.Disabled = []string{"ntp"}
	// The failover's probe query on a machine other tests load (load
	// average 100+ seen): answers past 1 s were lost.
	cfg.Mesh.QueryTimeout = 4 * time.Second
	unit := "k0sworker.service"
	if i <= cpControllers {
		unit = "k0scontroller.service"
		if err := cp.etcd.WriteLayoutPKI(root, etcdlab.K0s); err != nil {
			fatal(t, err)
		}
		f := etcdlab.K0s.Under(root)
		cfg.Checks.Etcd.Endpoint = cp.etcd.Members[i-1].ClientURL
		cfg.Checks.Etcd.CAFile, cfg.Checks.Etcd.CertFile, cfg.Checks.Etcd.KeyFile = f.CAFile, f.CertFile, f.KeyFile
	}
	if err := cp.api.WriteLayoutKubeconfig(root, kubelab.K0s); err != nil {
		fatal(t, err)
	}
	cfg.Kubernetes.Kubeconfig = filepath.Join(root, kubelab.K0s.AdminConf)
	cfg.Kubernetes.Checks = true
	cfg.Kubernetes.Failover = config.KubeFailover{Mode: "on", After: failoverAfter, Interval: time.Second}
	s := &cfg.Supervisor
	s.Enabled, s.Backend = true, "exec"
	s.Exec = config.ExecBackend{Units: []string{unit}, Status: []string{"test", "-n", "{{.Unit}}"},
		Start: []string{"test", "-n", "{{.Unit}}"}, ResetFailed: []string{}, PollInterval: time.Second}
	s.Cleanup.Enabled, s.Cleanup.DryRun, s.Cleanup.After, s.Cleanup.Method = true, false, cleanupAfter, config.CleanupAPI
}

// startStandins binds, in each inventory host, the ports its role must
// listen on that the lab does not run (the controllers' 6443/8132/9443,
// the workers' kubelet): the agents' ports check then sees a correct
// dedicated controller, and etcd's own ports are etcd's.
func (cp *controlPlane) startStandins() {
	for _, h := range cp.c.Hosts {
		var items []string
		for _, p := range cluster.ListenPorts(cp.c.Layout, h.Roles, nil) {
			if p.Name == cluster.PortEtcdPeer.Name || p.Name == cluster.PortEtcdClient.Name {
				continue
			}
			items = append(items, fmt.Sprintf("%s:%s", p.Proto, net.JoinHostPort(h.Address, fmt.Sprint(p.Number))))
		}
		cp.startStandin(cpIndex(h.Name), items)
	}
}

func cpIndex(name string) int {
	for i := 1; i <= cpControllers+cpWorkers; i++ {
		if cpName(i) == name {
			return i
		}
	}
	return 0
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// etcdMembers is etcd's member list as a member on host i reports it.
func (cp *controlPlane) etcdMembers(i int) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out struct {
		Members []struct {
			ID   string `json:"ID"`
			Name string `json:"name"`
		} `json:"members"`
	}
	if err := cp.etcd.Post(ctx, cp.etcd.Members[i-1], "/v3/cluster/member/list", struct{}{}, &out); err != nil {
		return nil, err
	}
	var names []string
	for _, m := range out.Members {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	return names, nil
}

// finding is host's node finding check in a fresh `doctor --cluster`
// through host i's agent.
func findingOf(rep doctor.ClusterReport, host, check string) (doctor.Finding, bool) {
	for _, f := range rep.Findings {
		if f.Host == host && f.Check == check {
			return f, true
		}
	}
	return doctor.Finding{}, false
}

// taints is Node name's out-of-service taint and the agent's annotation on it.
func (cp *controlPlane) taint(name string) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := cp.kube.Node(ctx, name)
	if err != nil {
		cp.t.Logf("node %s: %v", name, err)
		return false, ""
	}
	return n.HasTaint(kube.OutOfService.Key, kube.OutOfService.Effect), n.Metadata.Annotations[kube.AppliedByAnnotation]
}

// taintEvents are the cluster.taint_* events of type typ since t0, from
// the stream through host i's CLI.
func (cp *controlPlane) taintEvents(i int, typ events.Type, t0 time.Time) []events.TaintData {
	evs, err := cp.tryEvents(i, typ)
	if err != nil {
		cp.t.Logf("events on host %d: %v", i, err)
		return nil
	}
	return taintsIn(evs, typ, t0)
}

// taintsIn are the events of type typ since t0 among evs, decoded.
func taintsIn(evs []events.Event, typ events.Type, t0 time.Time) []events.TaintData {
	var out []events.TaintData
	for _, e := range evs {
		var d events.TaintData
		if e.ShortType() == typ && !e.Time.Before(t0) && json.Unmarshal(e.Data, &d) == nil {
			out = append(out, d)
		}
	}
	return out
}

// kill ends host i's agent as a crash does.
func (cp *controlPlane) kill(i int) { cp.node(i).proc.Kill() }

// TestControlPlane runs the control-plane scenarios on real etcd
// and a real kube-apiserver with real agents in network namespaces (k0s
// layout: three dedicated controllers, two workers):
//
//	a. an etcd member stopped is an etcd finding (and cluster-etcd raised
//	   on the stream), not a ports finding;
//	b. only the agent of a controller stopped for longer than cleanup's
//	   `after`: nothing is removed from etcd;
//	d. the worker running the Core pod killed (cut off, agent killed) and
//	   marked NotReady: the out-of-service taint within 10 s of the mesh's
//	   verdict, removed when it returns; a partitioned minority that sees
//	   the Core worker failed and NotReady applies none;
//	c. a controller host killed (agent, etcd member, cut off) past
//	   `after`: exactly its member removed through etcd's API, quorum kept.
//
//	sudo go test -tags kumatesthooks -count=1 -run TestControlPlane -v ./test/e2e/
func TestControlPlane(t *testing.T) {
	needE2E(t)
	cp := newControlPlane(t)
	all := hosts(cpControllers + cpWorkers)

	// Baseline: every controller's etcd and ports checks ok (a correct
	// dedicated controller: no kubelet, no false critical).
	var rep doctor.ClusterReport
	eventually(t, "etcd and ports ok on every controller", 90*time.Second, func() bool {
		var err error
		rep, _, err = cp.doctorCLI(1, "--fresh")
		if err != nil {
			return false
		}
		for i := 1; i <= cpControllers; i++ {
			for _, c := range []string{"etcd", "ports"} {
				if f, ok := findingOf(rep, cpName(i), c); !ok || f.Status != checks.OK {
					return false
				}
			}
		}
		return true
	})
	ev, err := cp.evaluation(1)
	if err != nil {
		fatal(t, err)
	}
	t.Logf("baseline: %s evaluates", ev.Evaluator)

	t.Run("a/etcd member stopped is an etcd finding", func(t *testing.T) {
		t0 := time.Now()
		cp.etcd.Stop(cp.etcd.Members[2])
		var raised []clusterChange
		d := eventually(t, "cluster-etcd raised on the stream", 2*time.Minute, func() bool {
			raised = cp.changes(1, clusterchecks.EtcdCheckName, events.TransitionRaised, t0)
			return len(raised) > 0
		})
		t.Logf("cluster-etcd raised %s %v after the stop: %s", raised[0].data.Status, d.Round(100*time.Millisecond), raised[0].data.Message)
		// A fresh doctor: cp-3's etcd finding names etcd, and every
		// controller's ports check is ok (a check still running on a
		// loaded machine answers unknown: asked again).
		var rep doctor.ClusterReport
		eventually(t, "an etcd finding on cp-3 and ports ok on the controllers", 90*time.Second, func() bool {
			var err error
			if rep, _, err = cp.doctorCLI(1, "--fresh"); err != nil {
				return false
			}
			if f, ok := findingOf(rep, cpName(3), "etcd"); !ok || f.Status == checks.OK || f.Status == checks.Unknown {
				return false
			}
			for i := 1; i <= cpControllers; i++ {
				if f, ok := findingOf(rep, cpName(i), "ports"); !ok || f.Status == checks.Unknown {
					return false
				}
			}
			return true
		})
		f, _ := findingOf(rep, cpName(3), "etcd")
		t.Logf("cp-3's etcd finding: %s: %s", f.Status, f.Message)
		for i := 1; i <= cpControllers; i++ {
			if f, ok := findingOf(rep, cpName(i), "ports"); ok && f.Status != checks.OK {
				errorf(t, "ports finding on %s with an etcd member stopped: %+v", cpName(i), f)
			}
			// reach: a refused etcd port is an open path; a probe timed
			// out on a loaded machine is logged, not judged here.
			if f, ok := findingOf(rep, cpName(i), "reach"); ok && f.Status != checks.OK {
				if strings.Contains(f.Message+strings.Join(f.Details, " "), "2380") {
					errorf(t, "reach finding on %s names etcd's port: %+v", cpName(i), f)
				} else {
					t.Logf("reach on %s (not etcd's): %s", cpName(i), f.Message)
				}
			}
		}
		if c := cp.countedChanges(t, 1, "cluster-reachability", events.TransitionRaised, t0); len(c) != 0 {
			errorf(t, "an etcd member stopped raised cluster-reachability: %+v", c[0].data)
		}
		cp.etcd.Restart(cp.etcd.Members[2])
		eventually(t, "cluster-etcd ok again in the evaluation", 2*time.Minute, func() bool {
			rep, err := cp.evaluation(1)
			if err != nil {
				return false
			}
			f, ok := findingOf(rep, doctor.ClusterHost, clusterchecks.EtcdCheckName)
			return ok && f.Status == checks.OK
		})
	})
	if t.Failed() {
		return
	}

	t.Run("b/agent stopped on a healthy controller removes nothing", func(t *testing.T) {
		cp.kill(3)
		cp.waitDetected(hosts(cpControllers+cpWorkers, 3), cpName(3), "failed", time.Now(), 60*time.Second)
		// Past after, and past two cleanup rounds after that.
		time.Sleep(cleanupAfter + 25*time.Second)
		got, err := cp.etcdMembers(1)
		if err != nil {
			fatal(t, err)
		}
		if len(got) != cpControllers {
			fatalf(t, "etcd members with only an agent stopped: %v", got)
		}
		if !strings.Contains(cp.node(1).currentLog(), "etcd reports the member healthy: its agent alone is down") {
			errorf(t, "the cleanup on cp-1 did not log why it removes nothing")
		}
		cp.start(3)
		eventually(t, "cp-3 back", 60*time.Second, func() bool { return cp.aliveIn(all, len(all)) })
	})
	if t.Failed() {
		return
	}

	t.Run("d/core worker dead is tainted, back is untainted", func(t *testing.T) {
		c := cp.taintCycle(t)
		if c.sinceVerdictMS > 10000 {
			errorf(t, "taint %.0f ms after the mesh's verdict, want within 10 s", c.sinceVerdictMS)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("d/partitioned minority applies none", func(t *testing.T) {
		// The other worker loses every agent host (not the API server): it
		// sees the Core worker failed, and the test marks that Node NotReady.
		t0 := time.Now()
		nft := func(args ...string) {
			if out, err := cp.lab.Exec(otherWorker, "nft", args...).CombinedOutput(); err != nil {
				fatalf(t, "nft %v: %v: %s", args, err, out)
			}
		}
		var peers []string
		for i := 1; i <= cpControllers+cpWorkers; i++ {
			if i != otherWorker {
				peers = append(peers, cp.lab.Addr(i))
			}
		}
		set := "{ " + strings.Join(peers, ", ") + " }"
		nft("add", "table", "inet", "kuma_e2e")
		nft("add", "chain", "inet", "kuma_e2e", "in", "{ type filter hook input priority 0 ; }")
		nft("add", "chain", "inet", "kuma_e2e", "out", "{ type filter hook output priority 0 ; }")
		nft("add", "rule", "inet", "kuma_e2e", "in", "ip", "saddr", set, "drop")
		nft("add", "rule", "inet", "kuma_e2e", "out", "ip", "daddr", set, "drop")
		healed := false
		heal := func() {
			if !healed {
				healed = true
				nft("delete", "table", "inet", "kuma_e2e")
			}
		}
		t.Cleanup(heal)
		name := cpName(coreWorker)
		cp.api.SetNodeReady(t, name, "Unknown")
		cp.waitDetected([]int{otherWorker}, name, "failed", t0, 60*time.Second)
		// Several failover passes past after, on the minority's side.
		time.Sleep(failoverAfter + 10*time.Second)
		if tainted, note := cp.taint(name); tainted {
			errorf(t, "a partitioned minority's view led to a taint: %q", note)
		}
		heal()
		cp.api.SetNodeReady(t, name, "True")
		eventually(t, "mesh of 5 again", 60*time.Second, func() bool { return cp.aliveIn(all, len(all)) })
		if tainted, note := cp.taint(name); tainted {
			errorf(t, "tainted after the partition: %q", note)
		}
		if a := taintsIn(cp.settledEvents(t, 1, events.TaintApplied), events.TaintApplied, t0); len(a) != 0 {
			errorf(t, "taint applied during the partition: %+v", a)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("c/controller host killed is removed from etcd", func(t *testing.T) {
		t0 := time.Now()
		victim := 3
		cp.kill(victim)
		cp.etcd.Kill(cp.etcd.Members[victim-1])
		if err := cp.lab.CutOff(victim); err != nil {
			fatal(t, err)
		}
		want := []string{cpName(1), cpName(2)}
		var got []string
		d := eventually(t, "the dead controller's etcd member removed", 3*time.Minute, func() bool {
			var err error
			got, err = cp.etcdMembers(1)
			return err == nil && slices.Equal(got, want)
		})
		t.Logf("member %s removed %v after the host's death (after %v)", cpName(victim), d.Round(100*time.Millisecond), cleanupAfter)
		for i := 1; i <= 2; i++ {
			if names, err := cp.etcdMembers(i); err != nil || !slices.Equal(names, want) {
				errorf(t, "etcd on %s: members %v (%v)", cpName(i), names, err)
			}
		}
		// Quorum kept: both remaining members answer /health (etcd's own
		// view); cp-1's etcd check, at its next run after the removal,
		// says only what the operator still has to do: take the host out
		// of the inventory (a warning, no quorum or health finding).
		cp.etcd.WaitHealthy(cp.etcd.Members[0])
		cp.etcd.WaitHealthy(cp.etcd.Members[1])
		var f doctor.Finding
		eventually(t, "cp-1's etcd check after the removal", 90*time.Second, func() bool {
			rep, _, err := cp.doctorCLI(1, "--fresh")
			if err != nil {
				return false
			}
			f, _ = findingOf(rep, cpName(1), "etcd")
			return strings.Contains(f.Message, "inventory controllers etcd does not list: "+cpName(victim))
		})
		if f.Status != checks.Warn {
			errorf(t, "etcd on cp-1 after the removal: %s: %s", f.Status, f.Message)
		}
		var result string
		eventually(t, "healing.finished of the removal on the stream", 90*time.Second, func() bool {
			evs, err := cp.tryEvents(1, events.HealingFinished)
			if err != nil {
				return false
			}
			for _, e := range evs {
				var d events.HealingData
				if !e.Time.Before(t0) && json.Unmarshal(e.Data, &d) == nil && d.Unit == "etcd-member/"+cpName(victim) {
					result = d.Result
					return true
				}
			}
			return false
		})
		if !strings.Contains(result, "removed through etcd's API") {
			errorf(t, "removal result %q, want through etcd's API", result)
		}
	})
}

// taintTimes is one taint cycle's measurements.
type taintTimes struct {
	detect         time.Duration // host death to the last live member's failed verdict
	toTaint        time.Duration // host death to the taint seen on the Node
	sinceVerdictMS float64       // the evaluator's: failed + failover.after to its write
	toUntaint      time.Duration // return (heal, agent, Ready) to the taint gone
}

// taintCycle kills the Core worker (cut off from the switch, its agent
// killed; the test marks its Node Unknown as the node controller does),
// waits for the out-of-service taint and its event, then brings the host
// back (healed, agent started, Ready) and waits for the taint's removal
// and its event.
func (cp *controlPlane) taintCycle(t *testing.T) taintTimes {
	t.Helper()
	var c taintTimes
	all := hosts(cpControllers + cpWorkers)
	name := cpName(coreWorker)
	t0 := time.Now()
	if err := cp.lab.CutOff(coreWorker); err != nil {
		fatal(t, err)
	}
	cp.kill(coreWorker)
	cp.api.SetNodeReady(t, name, "Unknown")
	c.detect = cp.waitDetected(hosts(cpControllers+cpWorkers, coreWorker), name, "failed", t0, 60*time.Second)
	eventually(t, "the out-of-service taint on the Core worker", 90*time.Second, func() bool {
		tainted, _ := cp.taint(name)
		return tainted
	})
	c.toTaint = time.Since(t0)
	var applied []events.TaintData
	eventually(t, "cluster.taint_applied on the stream", 90*time.Second, func() bool {
		applied = cp.taintEvents(1, events.TaintApplied, t0)
		return len(applied) > 0
	})
	a := applied[0]
	c.sinceVerdictMS = a.SinceVerdictMS
	t.Logf("taint applied by %s: detection %v, taint %v after the host's death, %.0f ms after the mesh's verdict (failed + after %v); evidence %v",
		a.Evaluator, c.detect.Round(100*time.Millisecond), c.toTaint.Round(100*time.Millisecond), a.SinceVerdictMS, failoverAfter, a.Evidence)
	if len(applied) != 1 || a.Node != name {
		errorf(t, "taint events %+v, want one for %s", applied, name)
	}
	if _, note := cp.taint(name); !strings.Contains(note, "applied by kuma-agent on "+a.Evaluator) {
		errorf(t, "taint annotation %q", note)
	}
	for i := 1; i <= cpControllers+cpWorkers; i++ {
		if tainted, _ := cp.taint(cpName(i)); tainted && i != coreWorker {
			errorf(t, "%s tainted too", cpName(i))
		}
	}
	t1 := time.Now()
	if err := cp.lab.Heal(coreWorker); err != nil {
		fatal(t, err)
	}
	cp.start(coreWorker)
	cp.api.SetNodeReady(t, name, "True")
	eventually(t, "the taint removed", 60*time.Second, func() bool {
		tainted, _ := cp.taint(name)
		return !tainted
	})
	c.toUntaint = time.Since(t1)
	eventually(t, "cluster.taint_removed on the stream", 90*time.Second, func() bool {
		return len(cp.taintEvents(1, events.TaintRemoved, t1)) > 0
	})
	eventually(t, "mesh of 5 again", 60*time.Second, func() bool { return cp.aliveIn(all, len(all)) })
	t.Logf("taint removed %v after the host's return", c.toUntaint.Round(100*time.Millisecond))
	return c
}

// keepLogs copies the agents' whole logs to KUMA_E2E_LOG_DIR, when set,
// for a failure the dumped tails do not explain.
func keepLogs(t *testing.T, m *meshLab) {
	dir := os.Getenv("KUMA_E2E_LOG_DIR")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("KUMA_E2E_LOG_DIR: %v", err)
		return
	}
	for _, n := range m.nodes {
		if b, err := os.ReadFile(n.logPath); err == nil {
			_ = os.WriteFile(filepath.Join(dir, n.name+".log"), b, 0o644)
		}
	}
	t.Logf("agent logs kept in %s", dir)
}
