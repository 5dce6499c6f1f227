package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/doctor"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/inventory"
	"github.com/kuma-agent/kuma-agent/internal/testlab"
	"github.com/kuma-agent/kuma-agent/internal/testlab/kubelab"
	"github.com/kuma-agent/kuma-agent/internal/testlab/nspawnlab"
	"github.com/kuma-agent/kuma-agent/internal/testlab/sandbox"
	"github.com/kuma-agent/kuma-agent/internal/testlab/testpki"
)

// The Acura-shaped cluster's layout inside each container (kubeadm's paths).
const (
	acuraPKI       = "/etc/kubernetes/pki"
	acuraEtcdBin   = "/usr/local/bin/etcd"
	acuraKubeDir   = "/opt/kube" // the cached kube-apiserver's directory, bound read-only
	acuraDataMount = "/var/lib/acura-data"
	// acuraDataSize and acuraMinFree: the small file system that fills, and
	// the disk check's threshold on it; acuraFillRate is what is written per
	// second (about 3 minutes from empty to the threshold).
	acuraDataSize = 64 << 20
	acuraMinFree  = 16 << 20
	acuraFillRate = 256 << 10
)

// Roles of the four hosts: 1-3 are Acura (kubeadm) nodes, 4 the balancer.
const (
	acuraNodes   = 3
	acuraLB      = 4
	acuraLowRAM  = 2 // its RAM minimum is set above this machine's RAM
	acuraCertBad = 2 // a certificate 5 days from expiry
	acuraKubelet = 3 // its kubelet is killed
	acuraDisk    = 3 // its data file system fills
	acuraAPI     = 1 // runs the kube-apiserver
	acuraDead    = 3 // its host is killed last: the cleanup removes its member and Node
)

// acuraAdminCert and acuraAdminKey: admin.conf's client identity as files,
// for the test's own calls to the API server and etcd (acuraHTTPS).
const (
	acuraAdminCert = "/root/e2e-admin.crt"
	acuraAdminKey  = "/root/e2e-admin.key"
)

// acuraIdentity is a client certificate and key inside a node.
type acuraIdentity struct{ cert, key string }

var (
	acuraAdmin      = acuraIdentity{acuraAdminCert, acuraAdminKey}                                                    // the API server's
	acuraEtcdClient = acuraIdentity{acuraPKI + "/apiserver-etcd-client.crt", acuraPKI + "/apiserver-etcd-client.key"} // etcd's
)

// TestAcuraClusterOnSystemd runs an Acura HA-shaped cluster: three kubeadm
// nodes and one load balancer (declared in the ha_env_file's supplement),
// each a systemd-nspawn host with kuma-agent running inside it as a systemd
// unit, the way a node runs it. The nodes run a real three-member etcd
// (Debian's etcd, TLS with kubeadm's certificate paths under
// /etc/kubernetes/pki/etcd) and node 1 the real kube-apiserver (v1.33.13,
// the cached build of `make kube-apiserver`), reached through
// /etc/kubernetes/admin.conf. What is simulated, and why:
//   - kubelet.service and containerd.service are stand-in units (a sleeping
//     process under the unit's name): the real kubelet and containerd are
//     not available here. kubeadm runs etcd and the API server as static
//     pods; here they are plain units. "A stopped kubelet" is its process
//     killed, so systemd marks the unit failed, which is all the supervisor
//     acts on.
//   - The containers see this machine's RAM (/proc/meminfo is the host's),
//     so "a node below the RAM minimum" is node 2 with its configured
//     acura-node memory minimum (checks.resources.minimums) set to twice
//     this machine's MemTotal; the other nodes get a minimum they meet.
//     The reading itself (gopsutil on the container's real /proc) is not faked.
//   - The filling disk is a 64 MiB tmpfs mounted inside node 3 at
//     /var/lib/acura-data, written 256 KiB at a time once a second (a steady
//     rate; on a loaded machine the loop is slower: 350-430 MiB/h was
//     measured), with the growth prediction's window and minimum history
//     shortened to seconds.
//
// It checks that (a) the killed kubelet is restarted by the agent
// (healing.finished), (b) the resources check names node 2's RAM
// minimum, (c) the certs check is critical on node 2 for a certificate 5
// days from expiry, with kubeadm's renewal command, and cluster-certs
// names node 2, (d) the disk growth is predicted (a warning with the time
// left) while free space is still above the threshold; that the agents'
// etcd check reads the real etcd on every node; and (e) that when node 3's
// host dies, with the dead-member cleanup enabled (etcd's API, after 1m),
// exactly its member is removed through etcd's API and its Kubernetes
// Node deleted (the test creates the Nodes, playing the kubelets).
func TestAcuraClusterOnSystemd(t *testing.T) {
	needE2E(t)
	nspawnlab.Need(t)
	testlab.NeedTools(t, "etcd")
	etcdBin := testlab.ToolPath(t, "etcd")
	apiserver := kubelab.Binary(t)
	start := time.Now()
	dir := t.TempDir()
	ct := nspawnlab.New(t, acuraLB, nspawnlab.Options{
		BindRO: map[string]string{testBinDir(t): containerBinDir, etcdBin: acuraEtcdBin, filepath.Dir(apiserver): acuraKubeDir},
		// Configs, logs, control sockets and state at the same path inside
		// and out: the CLI on this side reads what the agents inside write.
		Bind: map[string]string{dir: dir},
	})
	m := &meshLab{t: t, lab: ct.Net(), ct: ct, bin: agentBinary(t), dir: dir}
	t.Cleanup(func() {
		if t.Failed() {
			m.dumpLogs()
			dumpUnits(t, ct)
			repeatFailures(t)
		}
	})
	name := func(i int) string { return ct.Host(i).Name() } // Acura names have no dot: the hostnames
	m.inv = writeAcuraInventory(t, dir, ct)
	var err error
	if m.c, err = inventory.Load(m.inv); err != nil {
		fatal(t, err)
	}
	if _, err := sandbox.WriteKeyring(dir); err != nil {
		fatal(t, err)
	}
	installAcuraControlPlane(t, ct, apiserver)
	t.Logf("etcd and kube-apiserver up %s after the start", time.Since(start).Round(time.Millisecond))
	memTotal := hostMemTotal(t)
	for i := 1; i <= acuraLB; i++ {
		h := ct.Host(i)
		cfg, err := sandbox.WriteNode(dir, m.inv, m.c, m.c.Host(name(i)), sandbox.Fault{})
		if err != nil {
			fatal(t, err)
		}
		cfg.Mesh.BindAddr = h.Addr()
		cfg.Checks.Interval = 2 * time.Second
		cfg.Checks.Disk.MinFree = 1
		cfg.Checks.Disabled = []string{"ntp"} // no NTP server in the lab
		// The container's own /proc: the host's RAM, read by gopsutil.
		cfg.Checks.Resources.ProcDir = ""
		minimum := config.ResourceMinimum{Memory: 1 << 30}
		if i == acuraLowRAM {
			minimum.Memory = config.ByteSize(2 * memTotal)
		}
		cfg.Checks.Resources.Minimums = map[cluster.Role]config.ResourceMinimum{cluster.RoleAcuraNode: minimum}
		if i == acuraDisk {
			cfg.Paths.DiskPaths = []string{acuraDataMount}
			cfg.Checks.Disk.MinFree = acuraMinFree
			cfg.Checks.Resources.Growth = config.DiskGrowth{Window: 2 * time.Minute, MinSamples: 5, MinSpan: 8 * time.Second,
				MaxSamples: 120, Warn: 24 * time.Hour, Crit: time.Minute}
		}
		s := &cfg.Supervisor
		s.Enabled = true // the container's own system bus: the agent runs inside
		s.Backoff.Initial, s.Backoff.Max = 500*time.Millisecond, 2*time.Second
		s.HealTimeout = 30 * time.Second
		s.LeaseTTL = 6 * time.Second
		if i <= acuraNodes {
			// (e): a dead controller's member removed through etcd's API
			// and its Node deleted, after the config's least `after`.
			s.Cleanup.Enabled, s.Cleanup.DryRun, s.Cleanup.After, s.Cleanup.Method = true, false, time.Minute, config.CleanupAPI
		}
		nd := filepath.Dir(cfg.Agent.ControlSocket)
		n := &agentNode{host: i, name: name(i), cfg: cfg, cfgPath: filepath.Join(nd, "agent.yaml"), logPath: filepath.Join(nd, "agent.log")}
		n.writeConfig(t)
		m.nodes = append(m.nodes, n)
	}
	acuraExec(t, ct.Host(acuraDisk), "mkdir", "-p", acuraDataMount)
	acuraExec(t, ct.Host(acuraDisk), "mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(acuraDataSize), "tmpfs", acuraDataMount)
	for i := 1; i <= acuraLB; i++ {
		unit := fmt.Sprintf("[Unit]\nDescription=kuma-agent (e2e)\n[Service]\nExecStart=%s/kuma-agent run --config %s\nStandardOutput=append:%s\nStandardError=append:%s\n",
			containerBinDir, m.node(i).cfgPath, m.node(i).logPath, m.node(i).logPath)
		installUnit(t, ct.Host(i), "kuma-agent.service", unit)
	}
	eventually(t, "mesh of 4 (3 nodes + LB)", 60*time.Second, func() bool { return m.aliveIn(hosts(acuraLB), acuraLB) })
	t.Logf("cluster up %s after the start", time.Since(start).Round(time.Millisecond))

	// The disk starts filling now: the prediction needs a few samples.
	fillCtx, stopFill := context.WithCancel(context.Background())
	t.Cleanup(stopFill)
	fill := ct.Host(acuraDisk).Command(fillCtx, "/bin/sh", "-c",
		fmt.Sprintf(`while :; do head -c %d /dev/zero >> %s/growing; sleep 1; done`, acuraFillRate, acuraDataMount))
	if err := fill.Start(); err != nil {
		fatal(t, err)
	}
	t.Cleanup(func() { stopFill(); _ = fill.Wait() })
	fillStart := time.Now()

	t.Log("(a) a kubelet killed: its unit failed, the agent restarts it")
	eventually(t, "kuma-agent event history readable", 90*time.Second, func() bool {
		evs, err := m.tryEvents(1, events.AgentStarted)
		return err == nil && len(evs) >= acuraLB
	})
	kh := ct.Host(acuraKubelet)
	oldPID := unitProp(t, kh, "kubelet.service", "MainPID")
	killedAt := time.Now()
	acuraExec(t, kh, "kill", "-9", oldPID)
	eventually(t, "kubelet active again in a new process", 90*time.Second, func() bool {
		pid := unitProp(t, kh, "kubelet.service", "MainPID")
		return pid != oldPID && pid != "0" && unitProp(t, kh, "kubelet.service", "ActiveState") == "active"
	})
	t.Logf("kubelet on %s healed %s after the kill", name(acuraKubelet), time.Since(killedAt).Round(time.Millisecond))
	eventually(t, "healing.finished for kubelet.service", 30*time.Second, func() bool {
		evs, err := m.tryEvents(1, events.HealingFinished)
		if err != nil {
			return false
		}
		for _, e := range evs {
			var d events.HealingData
			if json.Unmarshal(e.Data, &d) == nil && nodeOf(e) == name(acuraKubelet) && d.Unit == "kubelet.service" && d.Action == "restart" {
				t.Logf("healing.finished: %s %s group %q in %.0f ms: %s", d.Unit, d.Action, d.Group, d.DurationMS, d.Result)
				return d.Group == "etcd"
			}
		}
		return false
	})

	t.Log("(b) (c) the resources and certs findings, node by node and cluster-wide")
	var rep doctor.ClusterReport
	eventually(t, "doctor --cluster: RAM minimum, expiring certificate, etcd read on every node", 90*time.Second, func() bool {
		var err error
		rep, _, err = m.doctorCLI(1, "--fresh")
		if err != nil {
			return false
		}
		for i := 1; i <= acuraNodes; i++ {
			if f, ok := hostFinding(rep, name(i), "etcd"); !ok || f.Status != checks.OK {
				return false
			}
		}
		res, ok := hostFinding(rep, name(acuraLowRAM), "resources")
		cert, ok2 := hostFinding(rep, name(acuraCertBad), "certs")
		cc, ok3 := rep.Cluster("cluster-certs")
		return ok && ok2 && ok3 && strings.Contains(res.Message, "of RAM, below the") && cert.Status == checks.Crit && cc.Status == checks.Crit
	})
	res, _ := hostFinding(rep, name(acuraLowRAM), "resources")
	if res.Status != checks.Warn || !strings.Contains(res.Message, "minimum for acura-node") {
		errorf(t, "resources on %s: %s %q", name(acuraLowRAM), res.Status, res.Message)
	}
	for _, i := range []int{1, 3} {
		if f, _ := hostFinding(rep, name(i), "resources"); strings.Contains(f.Message, "of RAM, below") {
			errorf(t, "resources on %s (minimum met) names RAM: %q", name(i), f.Message)
		}
	}
	cert, _ := hostFinding(rep, name(acuraCertBad), "certs")
	if !strings.Contains(cert.Message+strings.Join(cert.Details, "\n"), "front-proxy-client.crt") || !strings.Contains(cert.Remedy, "kubeadm certs renew all") {
		errorf(t, "certs on %s: %q %q remedy %q", name(acuraCertBad), cert.Message, cert.Details, cert.Remedy)
	}
	for _, i := range []int{1, 3} {
		if f, _ := hostFinding(rep, name(i), "certs"); f.Status != checks.OK {
			errorf(t, "certs on %s (a fresh PKI): %s %q %q", name(i), f.Status, f.Message, f.Details)
		}
	}
	cc, _ := rep.Cluster("cluster-certs")
	if !strings.Contains(cc.Message+strings.Join(cc.Details, "\n"), name(acuraCertBad)) || !strings.Contains(cc.Remedy, "kubeadm certs renew all") {
		errorf(t, "cluster-certs does not name %s with the renewal: %q %q %q", name(acuraCertBad), cc.Message, cc.Details, cc.Remedy)
	}
	t.Logf("resources on %s: %s %s", name(acuraLowRAM), res.Status, res.Message)
	t.Logf("certs on %s: %s %s; remedy %s", name(acuraCertBad), cert.Status, cert.Message, cert.Remedy)
	t.Logf("cluster-certs: %s %s", cc.Status, cc.Message)
	// The Kubernetes readings reach the real API server: it answers, with
	// no Node (no kubelet registers one here).
	if kn, ok := rep.Cluster("kube-nodes"); !ok || !strings.Contains(kn.Message, "no Nodes") {
		errorf(t, "kube-nodes did not read the API server: %+v", kn)
	}
	// No false critical: every critical finding is one this lab causes on
	// purpose or by what it does not run, and says so.
	for _, f := range rep.Findings {
		if f.Status != checks.OK {
			t.Logf("not OK: %s %s %s: %s", f.Host, f.Check, f.Status, f.Message)
		}
		if f.Status == checks.Crit && !acuraExpectedCrit(f, name) {
			errorf(t, "unexpected critical on %s: %s: %s %q", f.Host, f.Check, f.Message, f.Details)
		}
	}

	t.Log("(d) the filling disk is predicted before it crosses the threshold")
	// The prediction is one line of the resources finding: its message
	// when it is the worst line (the level is then the finding's status),
	// else a detail carrying its level ("warn: ..."; on a loaded machine
	// the load is the message).
	const fills = acuraDataMount + " fills at"
	var growth string
	eventually(t, "a disk growth prediction on "+name(acuraDisk), 150*time.Second, func() bool {
		rep, _, err := m.doctorCLI(1, "--fresh")
		if err != nil {
			return false
		}
		f, _ := hostFinding(rep, name(acuraDisk), "resources")
		if strings.Contains(f.Message, fills) {
			growth = f.Status.String() + ": " + f.Message
			return true
		}
		for _, l := range f.Details {
			if strings.Contains(l, fills) {
				growth = l
				return true
			}
		}
		return false
	})
	free := freeBytes(t, ct.Host(acuraDisk), acuraDataMount)
	t.Logf("predicted %s after the fill started, %d MiB free (threshold %d MiB): %q", time.Since(fillStart).Round(time.Second),
		free>>20, acuraMinFree>>20, growth)
	if free <= acuraMinFree {
		fatalf(t, "the prediction came only after the threshold was crossed (%d bytes free)", free)
	}
	// About 3 minutes left: under growth.warn (24 h), over growth.crit (1 m).
	if !strings.HasPrefix(growth, "warn: ") || !strings.Contains(growth, fmt.Sprintf("below the disk check's %d.0 MiB free in ", acuraMinFree>>20)) {
		errorf(t, "growth prediction: %q", growth)
	}

	t.Log("(e) a controller host dies: its etcd member is removed through etcd's API and its Node deleted")
	api := ct.Host(acuraAPI)
	// The test plays the kubelets: a Ready Node per Acura node.
	for i := 1; i <= acuraNodes; i++ {
		acuraHTTPS(t, api, "POST", "https://127.0.0.1:6443/api/v1/nodes", fmt.Sprintf(`{"apiVersion":"v1","kind":"Node","metadata":{"name":%q}}`, name(i)), 201)
	}
	members := func() []string {
		out, code := acuraTryHTTPS(t, api, acuraEtcdClient, "POST", "https://127.0.0.1:2379/v3/cluster/member/list", "{}")
		if code != 200 {
			return nil
		}
		var list struct {
			Members []struct {
				Name string `json:"name"`
			} `json:"members"`
		}
		if json.Unmarshal([]byte(out), &list) != nil {
			return nil
		}
		var names []string
		for _, m := range list.Members {
			names = append(names, m.Name)
		}
		return names
	}
	if got := members(); len(got) != acuraNodes {
		fatalf(t, "etcd members before the death: %v", got)
	}
	died := time.Now()
	ct.Host(acuraDead).Kill()
	eventually(t, "the dead controller's member removed, two left", 4*time.Minute, func() bool {
		got := members()
		return len(got) == acuraNodes-1 && !slices.Contains(got, name(acuraDead))
	})
	t.Logf("member %s removed %s after the host's death (cleanup.after 1m)", name(acuraDead), time.Since(died).Round(100*time.Millisecond))
	eventually(t, "its Kubernetes Node deleted", 60*time.Second, func() bool {
		_, code := acuraTryHTTPS(t, api, acuraAdmin, "GET", "https://127.0.0.1:6443/api/v1/nodes/"+name(acuraDead), "")
		return code == 404
	})
	for i := 1; i <= acuraNodes; i++ {
		if i == acuraDead {
			continue
		}
		if _, code := acuraTryHTTPS(t, api, acuraAdmin, "GET", "https://127.0.0.1:6443/api/v1/nodes/"+name(i), ""); code != 200 {
			errorf(t, "Node %s: HTTP %d after the cleanup, want it kept", name(i), code)
		}
	}
	// Exactly one removal, from the cleanup, saying both.
	evs := m.settledEvents(t, 1, events.HealingFinished)
	var removals []string
	for _, e := range evs {
		var d events.HealingData
		if json.Unmarshal(e.Data, &d) == nil && strings.Contains(d.Result, "removed through etcd's API") {
			removals = append(removals, nodeOf(e)+": "+d.Result)
		}
	}
	if len(removals) != 1 || !strings.Contains(removals[0], name(acuraDead)) || !strings.Contains(removals[0], "Kubernetes Node deleted") {
		errorf(t, "removals on the stream: %q, want one of %s with its Node", removals, name(acuraDead))
	}
}

// acuraPy is the test's HTTPS client inside a node (the lab's network is
// not reachable from the test process): python3's standard library with
// the client identity given, trusting the kube and etcd CAs. It prints the
// status code on the first line, then the body.
const acuraPy = `import ssl, sys, urllib.request, urllib.error
method, url, body = sys.argv[1], sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile="/etc/kubernetes/pki/ca.crt")
ctx.load_verify_locations("/etc/kubernetes/pki/etcd/ca.crt")
ctx.load_cert_chain(sys.argv[4], sys.argv[5])
req = urllib.request.Request(url, data=body.encode() if body else None, method=method, headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        print(r.status); print(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code); print(e.read().decode())
`

// acuraTryHTTPS makes one call through acuraPy; code 0 when it did not run.
func acuraTryHTTPS(t *testing.T, h *nspawnlab.Host, id acuraIdentity, method, url, body string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := h.Exec(ctx, "python3", "-c", acuraPy, method, url, body, id.cert, id.key)
	if err != nil {
		t.Logf("%s %s: %v: %s", method, url, err, out)
		return "", 0
	}
	first, rest, _ := strings.Cut(string(out), "\n")
	code, _ := strconv.Atoi(strings.TrimSpace(first))
	return rest, code
}

// acuraHTTPS is acuraTryHTTPS as the admin that fails the test unless the answer is want.
func acuraHTTPS(t *testing.T, h *nspawnlab.Host, method, url, body string, want int) string {
	t.Helper()
	out, code := acuraTryHTTPS(t, h, acuraAdmin, method, url, body)
	if code != want {
		fatalf(t, "%s %s: HTTP %d, want %d: %s", method, url, code, want, out)
	}
	return out
}

// acuraExpectedCrit reports whether a critical finding is one the lab
// makes: the expiring certificate (c), and what the lab does not run: no
// kubelet listens on 10250 or registers a Node (stand-in units), the API
// server runs on node 1 only, the balancer has no nginx.
func acuraExpectedCrit(f doctor.Finding, name func(int) string) bool {
	switch {
	case f.Host == name(acuraCertBad) && f.Check == "certs", f.Host == doctor.ClusterHost && f.Check == "cluster-certs":
		return true
	case f.Host == doctor.ClusterHost && f.Check == "kube-nodes":
		return strings.Contains(f.Message, "no Nodes")
	case f.Host == name(acuraLB) && (f.Check == "lb" || f.Check == "ports"):
		return true
	case f.Check == "ports" && f.Host != doctor.ClusterHost:
		_, list, ok := strings.Cut(f.Message, "not listening: ")
		for _, p := range strings.Split(list, ", ") {
			ok = ok && (p == "10250/tcp" || p == "6443/tcp" && f.Host != name(acuraAPI))
		}
		return ok
	}
	return false
}

// writeAcuraInventory writes the ha_env_file (the three nodes) and its
// supplement declaring the balancer, as a site does; it returns the
// ha_env_file's path.
func writeAcuraInventory(t *testing.T, dir string, ct *nspawnlab.Lab) string {
	t.Helper()
	var env strings.Builder
	for i := 1; i <= acuraNodes; i++ {
		fmt.Fprintf(&env, "%s ansible_ssh_host=%s\n", ct.Host(i).Name(), ct.Host(i).Addr())
	}
	inv := filepath.Join(dir, "ha_env_file")
	if err := os.WriteFile(inv, []byte(env.String()), 0o644); err != nil {
		fatal(t, err)
	}
	supp := fmt.Sprintf("[lb]\n%s ansible_ssh_host=%s\n", ct.Host(acuraLB).Name(), ct.Host(acuraLB).Addr())
	if err := os.WriteFile(inv+inventory.SupplementSuffix, []byte(supp), 0o644); err != nil {
		fatal(t, err)
	}
	// Acura needs working name resolution: every name in every host's
	// /etc/hosts (the system resolver's first source), as a site may do.
	hostsFile := "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n"
	for _, h := range ct.Hosts() {
		hostsFile += h.Addr() + " " + h.Name() + "\n"
	}
	for _, h := range ct.Hosts() {
		if err := h.WriteFile("/etc/hosts", []byte(hostsFile), 0o644); err != nil {
			fatal(t, err)
		}
	}
	return inv
}

// installAcuraControlPlane writes kubeadm's PKI and kubeconfig on the
// nodes, starts the stand-in kubelet and containerd units, a three-member
// etcd and (on one node) the kube-apiserver, and waits until the API
// server listens.
func installAcuraControlPlane(t *testing.T, ct *nspawnlab.Lab, apiserver string) {
	t.Helper()
	etcdCA := newCA(t, "etcd-ca")
	kubeCA := newCA(t, "kubernetes")
	var initial []string
	for i := 1; i <= acuraNodes; i++ {
		initial = append(initial, fmt.Sprintf("%s=http://%s:2380", ct.Host(i).Name(), ct.Host(i).Addr()))
	}
	apiAddr := ct.Host(acuraAPI).Addr()
	admin := issue(t, kubeCA, testpki.Leaf{CommonName: "kubernetes-admin", Organization: []string{"system:masters"}, Client: true})
	for i := 1; i <= acuraNodes; i++ {
		h := ct.Host(i)
		ip := net.ParseIP(h.Addr())
		files := map[string][]byte{"etcd/ca.crt": etcdCA.CertPEM, "ca.crt": kubeCA.CertPEM}
		server := issue(t, etcdCA, testpki.Leaf{CommonName: h.Name(), IPs: []net.IP{ip, net.IPv4(127, 0, 0, 1)}, DNSNames: []string{h.Name(), "localhost"}, Server: true, Client: true})
		files["etcd/server.crt"], files["etcd/server.key"] = server.CertPEM, server.KeyPEM
		client := issue(t, etcdCA, testpki.Leaf{CommonName: "kube-apiserver-etcd-client", Client: true})
		files["apiserver-etcd-client.crt"], files["apiserver-etcd-client.key"] = client.CertPEM, client.KeyPEM
		serving := issue(t, kubeCA, testpki.Leaf{CommonName: "kube-apiserver", IPs: []net.IP{ip, net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"kubernetes", "localhost"}, Server: true})
		files["apiserver.crt"], files["apiserver.key"] = serving.CertPEM, serving.KeyPEM
		// kubeadm's front-proxy client certificate: on one node 5 days from expiry.
		notAfter := time.Time{}
		if i == acuraCertBad {
			notAfter = time.Now().Add(5 * 24 * time.Hour)
		}
		files["front-proxy-client.crt"] = issue(t, kubeCA, testpki.Leaf{CommonName: "front-proxy-client", Client: true, NotAfter: notAfter}).CertPEM
		pub, priv := serviceAccountKeys(t)
		files["sa.pub"], files["sa.key"] = pub, priv
		for rel, data := range files {
			mode := os.FileMode(0o644)
			if strings.HasSuffix(rel, ".key") {
				mode = 0o600
			}
			if err := h.WriteFile(acuraPKI+"/"+rel, data, mode); err != nil {
				fatal(t, err)
			}
		}
		if err := h.WriteFile("/etc/kubernetes/admin.conf", testpki.KubeconfigFor("https://"+apiAddr+":6443", "kubernetes-admin", kubeCA.CertPEM, admin.CertPEM, admin.KeyPEM), 0o600); err != nil {
			fatal(t, err)
		}
		// The same identity as files, for the test's own calls (acuraHTTPS).
		for path, data := range map[string][]byte{acuraAdminCert: admin.CertPEM, acuraAdminKey: admin.KeyPEM} {
			if err := h.WriteFile(path, data, 0o600); err != nil {
				fatal(t, err)
			}
		}
		for _, u := range []string{"kubelet", "containerd"} {
			installUnit(t, h, u+".service", fmt.Sprintf("[Unit]\nDescription=%s stand-in (e2e: the real one is not available here)\n[Service]\nExecStart=/bin/sleep infinity\nRestart=no\n", u))
		}
		etcd := fmt.Sprintf(`[Unit]
Description=etcd (kubeadm runs it as a static pod; a unit here)
[Service]
ExecStart=%[1]s --name %[2]s --data-dir /var/lib/etcd --listen-client-urls https://0.0.0.0:2379 --advertise-client-urls https://%[3]s:2379 --listen-peer-urls http://%[3]s:2380 --initial-advertise-peer-urls http://%[3]s:2380 --initial-cluster %[4]s --initial-cluster-state new --initial-cluster-token acura-e2e --cert-file %[5]s/etcd/server.crt --key-file %[5]s/etcd/server.key --trusted-ca-file %[5]s/etcd/ca.crt --client-cert-auth --heartbeat-interval 100 --election-timeout 1000
Restart=no
`, acuraEtcdBin, h.Name(), h.Addr(), strings.Join(initial, ","), acuraPKI)
		if err := h.WriteFile("/etc/systemd/system/etcd.service", []byte(etcd), 0o644); err != nil {
			fatal(t, err)
		}
		acuraExec(t, h, "systemctl", "daemon-reload")
		// --no-block: the first member waits for its peers.
		acuraExec(t, h, "systemctl", "start", "--no-block", "etcd.service")
	}
	p := acuraPKI
	api := fmt.Sprintf(`[Unit]
Description=kube-apiserver (kubeadm runs it as a static pod; a unit here)
[Service]
ExecStart=%[1]s/kube-apiserver --advertise-address=%[3]s --etcd-servers=https://127.0.0.1:2379 --etcd-cafile=%[2]s/etcd/ca.crt --etcd-certfile=%[2]s/apiserver-etcd-client.crt --etcd-keyfile=%[2]s/apiserver-etcd-client.key --bind-address=0.0.0.0 --secure-port=6443 --cert-dir=%[2]s --tls-cert-file=%[2]s/apiserver.crt --tls-private-key-file=%[2]s/apiserver.key --client-ca-file=%[2]s/ca.crt --service-account-issuer=https://kubernetes.default.svc --service-account-key-file=%[2]s/sa.pub --service-account-signing-key-file=%[2]s/sa.key --authorization-mode=AlwaysAllow --service-cluster-ip-range=10.96.0.0/16 --disable-admission-plugins=ServiceAccount
Restart=on-failure
RestartSec=1
`, acuraKubeDir, p, ct.Host(acuraAPI).Addr())
	installUnit(t, ct.Host(acuraAPI), "kube-apiserver.service", api)
	h := ct.Host(acuraAPI)
	eventually(t, "kube-apiserver listening on node 1 (the agents read it later: kube-nodes)", 120*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, err := h.Exec(ctx, "/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/6443 && echo open")
		return err == nil && strings.Contains(string(out), "open")
	})
}

// dumpUnits logs the lab units' state and journal, for a failing test.
func dumpUnits(t *testing.T, ct *nspawnlab.Lab) {
	for _, h := range ct.Hosts() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, _ := h.Exec(ctx, "journalctl", "--no-pager", "-n", "40", "-u", "etcd", "-u", "kube-apiserver", "-u", "kubelet", "-u", "kuma-agent")
		cancel()
		t.Logf("==== journal of %s:\n%s", h.Name(), out)
	}
}

// installUnit writes a unit into the container and starts it.
func installUnit(t *testing.T, h *nspawnlab.Host, name, unit string) {
	t.Helper()
	if err := h.WriteFile("/etc/systemd/system/"+name, []byte(unit), 0o644); err != nil {
		fatal(t, err)
	}
	acuraExec(t, h, "systemctl", "daemon-reload")
	acuraExec(t, h, "systemctl", "start", name)
}

func acuraExec(t *testing.T, h *nspawnlab.Host, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := h.Exec(ctx, args...)
	if err != nil {
		fatal(t, err)
	}
	return strings.TrimSpace(string(out))
}

func unitProp(t *testing.T, h *nspawnlab.Host, unit, prop string) string {
	return acuraExec(t, h, "systemctl", "show", "-p", prop, "--value", unit)
}

func newCA(t *testing.T, name string) *testpki.CA {
	t.Helper()
	ca, err := testpki.NewCA(name)
	if err != nil {
		fatal(t, err)
	}
	return ca
}

func issue(t *testing.T, ca *testpki.CA, l testpki.Leaf) testpki.Pair {
	t.Helper()
	p, err := ca.Issue(l)
	if err != nil {
		fatal(t, err)
	}
	return p
}

// serviceAccountKeys are kubeadm's sa.pub and sa.key.
func serviceAccountKeys(t *testing.T) (pub, priv []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		fatal(t, err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		fatal(t, err)
	}
	privDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		fatal(t, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: privDER})
}

// hostMemTotal is this machine's MemTotal in bytes (what the containers see).
func hostMemTotal(t *testing.T) uint64 {
	t.Helper()
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		fatal(t, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kib, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				fatal(t, err)
			}
			return kib << 10
		}
	}
	fatal(t, "no MemTotal in /proc/meminfo")
	return 0
}

// freeBytes is what statfs(2) says is free for users on path in the container.
func freeBytes(t *testing.T, h *nspawnlab.Host, path string) uint64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(h.Root()+path, &st); err != nil {
		fatal(t, err)
	}
	return st.Bavail * uint64(st.Bsize)
}

// hostFinding is node's finding of check in a cluster report.
func hostFinding(rep doctor.ClusterReport, node, check string) (doctor.Finding, bool) {
	for _, f := range rep.Findings {
		if f.Host == node && f.Check == check {
			return f, true
		}
	}
	return doctor.Finding{}, false
}
