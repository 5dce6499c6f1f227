package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/doctor"
	"github.com/kuma-agent/kuma-agent/internal/inventory"
	"github.com/kuma-agent/kuma-agent/internal/testlab"
	"github.com/kuma-agent/kuma-agent/internal/testlab/netlab"
	"github.com/kuma-agent/kuma-agent/internal/testlab/nspawnlab"
	"github.com/kuma-agent/kuma-agent/internal/testlab/sandbox"
)

// The agent binary is built once per test run, on first use, and removed
// by TestMain.
var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(standinEnv); spec != "" {
		serveStandin(spec)
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func agentBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "kuma-e2e-bin-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "kuma-agent")
		// The agent with its test hooks (KUMA_AGENT_TEST_CLOCK_OFFSET, test f).
		for _, b := range []struct{ out, pkg, tags string }{
			{binPath, "../../cmd/kuma-agent", "kumatesthooks"},
			{filepath.Join(binDir, "fake-kuma-core"), "../../internal/testlab/fakecore", ""},
		} {
			// Built as the packages build it (Makefile: static, trimmed, no
			// symbol table), so the memory figures measure what ships: a
			// cgo build maps libc and gives every thread a pthread stack.
			cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-tags", b.tags, "-o", b.out, b.pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			out, err := cmd.CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go build %s: %w\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		fatal(t, buildErr)
	}
	return binPath
}

// nodeName is the inventory name of host i.
func nodeName(i int) string { return fmt.Sprintf("core-%d.e2e.local", i) }

// meshOpts shapes a test cluster.
type meshOpts struct {
	Hosts     int    // namespaces in the lab
	Inventory int    // hosts 1..Inventory are the inventory's Core hosts (0: all)
	Profile   string // mesh.profile; "" keeps the default (lan)
	// Interval between check rounds; 0 means 2 s (tests want results fast).
	Interval time.Duration
	// Containers boots a systemd-nspawn host in each namespace, with a
	// fake KUMA Core unit, and lets each agent supervise its container's
	// systemd over D-Bus (containers_test.go).
	Containers bool
	// Cores, if set, makes only hosts 1..Cores Core hosts and the rest of
	// the inventory collectors, the shape of a large distributed install
	// (a Raft group of 50 Cores does not exist).
	Cores int
}

// meshLab is a cluster of real agents, host i running node i.
type meshLab struct {
	t     testing.TB
	lab   *netlab.Lab
	ct    *nspawnlab.Lab // with meshOpts.Containers
	bin   string
	dir   string
	inv   string
	c     *cluster.Cluster
	nodes []*agentNode // nodes[i-1] is host i
	// removed are the hosts whose Core a test removed (raftexec_test.go).
	removed []int
}

// agentNode is one agent: its config file, log and (when running) process.
type agentNode struct {
	host    int
	name    string
	cfg     config.Config
	cfgPath string
	logPath string
	env     []string // extra environment, e.g. the clock-offset test hook
	proc    *netlab.Proc
	starts  int
}

// newMesh writes the inventory, keyring, sandbox files and configs; it
// starts no agent.
func newMesh(t testing.TB, o meshOpts) *meshLab {
	t.Helper()
	// Cleanups run last-in first-out: the dump of the logs, then the lab
	// (killing the agents), then the removal of their files.
	dir := t.TempDir()
	var ct *nspawnlab.Lab
	var lab *netlab.Lab
	if o.Containers {
		nspawnlab.Need(t) // before building what the containers bind
		ct = nspawnlab.New(t, o.Hosts, nspawnlab.Options{BindRO: map[string]string{testBinDir(t): containerBinDir}})
		lab = ct.Net()
	} else {
		lab = netlab.New(t, o.Hosts)
	}
	if o.Inventory == 0 {
		o.Inventory = o.Hosts
	}
	m := &meshLab{t: t, lab: lab, ct: ct, bin: agentBinary(t), dir: dir}
	t.Cleanup(func() {
		if t.Failed() {
			m.dumpLogs()
			repeatFailures(t)
		}
	})
	m.inv = filepath.Join(m.dir, "inventory.yml")
	if err := os.WriteFile(m.inv, []byte(inventoryYAML(lab, o.Inventory, o.Cores)), 0o644); err != nil {
		fatal(t, err)
	}
	var err error
	if m.c, err = inventory.Load(m.inv); err != nil {
		fatal(t, err)
	}
	if _, err := sandbox.WriteKeyring(m.dir); err != nil {
		fatal(t, err)
	}
	for i := 1; i <= o.Hosts; i++ {
		self := m.c.Host(nodeName(i))
		if self == nil { // a host outside the inventory
			self = &cluster.Host{Name: nodeName(i), Address: lab.Addr(i)}
		}
		cfg, err := sandbox.WriteNode(m.dir, m.inv, m.c, self, sandbox.Fault{})
		if err != nil {
			fatal(t, err)
		}
		cfg.Mesh.BindAddr = lab.Addr(i)
		// The figures' A/B of giving back the executable's pages
		// (figures_test.go).
		if os.Getenv("KUMA_FIG_NO_RELEASE") != "" {
			cfg.Agent.ReleaseExePagesEvery = 0
		}
		if o.Profile != "" {
			cfg.Mesh.Profile = o.Profile
		}
		cfg.Checks.Interval = 2 * time.Second
		if o.Interval > 0 {
			cfg.Checks.Interval = o.Interval
		}
		cfg.Checks.Disk.MinFree = 1
		// No NTP server is reachable inside the namespaces; the cluster
		// clock check compares the agents instead.
		cfg.Checks.Disabled = []string{"ntp"}
		if ct != nil {
			superviseContainer(&cfg, ct.Host(i))
		}
		nd := filepath.Dir(cfg.Agent.ControlSocket)
		n := &agentNode{host: i, name: nodeName(i), cfg: cfg,
			cfgPath: filepath.Join(nd, "agent.yaml"), logPath: filepath.Join(nd, "agent.log")}
		n.writeConfig(t)
		m.nodes = append(m.nodes, n)
	}
	if ct != nil {
		m.installCores() // the fake Cores listen on the Core ports themselves
	} else {
		m.startStandins()
	}
	return m
}

func inventoryYAML(lab *netlab.Lab, hosts, cores int) string {
	if cores == 0 || cores > hosts {
		cores = hosts
	}
	var b strings.Builder
	b.WriteString("kuma:\n  children:\n    kuma_core:\n      hosts:\n")
	fmt.Fprintf(&b, "        %s:\n          ip: %s\n", nodeName(1), lab.Addr(1))
	group := func(name string, from, to int) {
		if from > to {
			return
		}
		fmt.Fprintf(&b, "    %s:\n      hosts:\n", name)
		for i := from; i <= to; i++ {
			fmt.Fprintf(&b, "        %s:\n          ip: %s\n", nodeName(i), lab.Addr(i))
		}
	}
	group("kuma_core_peers", 2, cores)
	group("kuma_collector", cores+1, hosts)
	return b.String()
}

func (m *meshLab) node(i int) *agentNode { return m.nodes[i-1] }

// writeConfig saves n.cfg as YAML, the way an operator's agent.yaml looks.
func (n *agentNode) writeConfig(t testing.TB) {
	t.Helper()
	b, err := yaml.Marshal(n.cfg)
	if err != nil {
		fatal(t, err)
	}
	if err := os.WriteFile(n.cfgPath, b, 0o600); err != nil {
		fatal(t, err)
	}
}

// currentLog is the log of the node's latest start.
func (n *agentNode) currentLog() string {
	b, _ := os.ReadFile(n.logPath)
	s := string(b)
	if i := strings.LastIndex(s, "=== start "); i >= 0 {
		s = s[i:]
	}
	return s
}

// start runs `kuma-agent run` in the node's namespace.
func (m *meshLab) start(i int) {
	m.t.Helper()
	n := m.node(i)
	n.starts++
	if f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		fmt.Fprintf(f, "=== start %d at %s, env %v\n", n.starts, time.Now().Format(time.RFC3339Nano), n.env)
		f.Close()
	}
	cmd := m.lab.Exec(i, m.bin, "run", "--config", n.cfgPath)
	cmd.Env = append(os.Environ(), n.env...)
	p, err := m.lab.StartCmd(cmd, n.logPath)
	if err != nil {
		fatal(m.t, err)
	}
	n.proc = p
}

// stop ends node i's agent with SIGTERM (a restart, not a leave).
func (m *meshLab) stop(i int) {
	m.t.Helper()
	if err := m.node(i).proc.Stop(); err != nil {
		errorf(m.t, "%s: %v", m.node(i).name, err)
	}
}

// members is node i's view, by name; an agent not (yet) answering on its
// control socket gives an error.
func (m *meshLab) members(i int) (map[string]control.MemberInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var ms []control.MemberInfo
	if err := control.Call(ctx, m.node(i).cfg.Agent.ControlSocket, control.OpMembers, nil, &ms); err != nil {
		return nil, err
	}
	out := make(map[string]control.MemberInfo, len(ms))
	for _, mi := range ms {
		out[mi.Name] = mi
	}
	return out, nil
}

// eventually polls cond every 50 ms until it holds or within passes.
func eventually(t testing.TB, what string, within time.Duration, cond func() bool) time.Duration {
	t.Helper()
	return eventuallyEvery(t, what, within, 50*time.Millisecond, cond)
}

// eventuallyEvery is eventually polling every gap.
func eventuallyEvery(t testing.TB, what string, within, gap time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(gap)
	}
	fatalf(t, "timed out after %v waiting for %s", within, what)
	return 0
}

// pollGap is how often a wait on every agent's view polls them: 50 ms up
// to 10 agents, 5 ms per agent beyond. Each poll of an agent is a control
// call that lists every member with its tags; at 50 agents a 50 ms loop made
// about a thousand such calls a second, enough on the lab's 2 cores to
// starve the agents whose failure detection the figures measure. The
// figures read each agent's own timestamp of the change (Since), so the
// gap does not change what they report.
func (m *meshLab) pollGap() time.Duration {
	return max(50*time.Millisecond, time.Duration(len(m.nodes))*5*time.Millisecond)
}

// aliveIn reports whether every observer sees exactly want members, all alive.
func (m *meshLab) aliveIn(observers []int, want int) bool {
	for _, o := range observers {
		ms, err := m.members(o)
		if err != nil || len(ms) != want {
			return false
		}
		for _, mi := range ms {
			if mi.Status != "alive" {
				return false
			}
		}
	}
	return true
}

// waitDetected waits until every observer lists name as status and returns
// the detection time: when the last observer learned of it (the agents'
// own event timestamps, same clock as ours), measured from t0.
func (m *meshLab) waitDetected(observers []int, name, status string, t0 time.Time, within time.Duration) time.Duration {
	m.t.Helper()
	var worst time.Duration
	per := make(map[int]time.Duration, len(observers))
	// An observer that has reported the change is not asked again, and the
	// first look is a second after t0 (no detection is faster than a probe
	// and a timer): each look is a control call listing every member with
	// its tags, and at 50 agents looking at all of them every sweep kept
	// the lab's 2 cores busy answering the harness while the agents were
	// spreading the verdict being measured.
	if len(observers) >= 10 {
		time.Sleep(time.Until(t0.Add(time.Second)))
	}
	eventuallyEvery(m.t, fmt.Sprintf("%s %s in the view of hosts %v", name, status, observers), within, m.pollGap(), func() bool {
		all := true
		for _, o := range observers {
			if _, ok := per[o]; ok {
				continue
			}
			ms, err := m.members(o)
			if err != nil || ms[name].Status != status {
				all = false
				continue
			}
			d := time.Since(t0) // fallback: when we saw it
			if s := ms[name].Since; s.After(t0) {
				d = s.Sub(t0)
			}
			per[o] = d
			worst = max(worst, d)
		}
		return all
	})
	if worst > slowDetection {
		m.explainSlow(per, name, t0)
	}
	return worst
}

// slowDetection is where waitDetected starts explaining itself: the
// figures' bound is 3 s.
const slowDetection = 2500 * time.Millisecond

// explainSlow logs, for a slow detection, how the observers' times spread
// and what the slowest observer's log says about the member meanwhile: a
// straggler and a late cluster have different causes.
func (m *meshLab) explainSlow(per map[int]time.Duration, name string, t0 time.Time) {
	m.t.Helper()
	hosts := make([]int, 0, len(per))
	for o := range per {
		hosts = append(hosts, o)
	}
	slices.SortFunc(hosts, func(a, b int) int { return cmp.Compare(per[b], per[a]) })
	fast := 0
	for _, o := range hosts {
		if per[o] <= 2*time.Second {
			fast++
		}
	}
	var top []string
	for _, o := range hosts[:min(3, len(hosts))] {
		top = append(top, fmt.Sprintf("%s %v", nodeName(o), per[o].Round(time.Millisecond)))
	}
	m.t.Logf("slow detection of %s: %d of %d observers within 2 s; slowest: %s", name, fast, len(hosts), strings.Join(top, ", "))
	const slogTime = "2006-01-02T15:04:05.000Z07:00" // log/slog's text handler
	from, to := t0.Add(-time.Second).UTC().Format(slogTime), t0.Add(per[hosts[0]]+time.Second).UTC().Format(slogTime)
	// logWindow is what host o's log says in the window: every line about
	// name; how many nodes o saw suspected meanwhile (the unreachable fast
	// path stands down while more than 3 are); and how many memberlist
	// "handler queue full" lines it has: gossip the agent received but
	// dropped because it was too slow to handle it. Each log is read once.
	type logWindow struct {
		lines               []string
		suspicions, dropped int
	}
	views := make(map[int]logWindow, len(hosts))
	droppedAll := 0
	// The cluster evaluator (the cluster-checks lease holder) gathers
	// four queries' answers from every member each interval: the node
	// that last said it took the lease before the window.
	evaluator, evaluatorSince := "", ""
	for _, o := range hosts {
		var w logWindow
		b, err := os.ReadFile(m.node(o).logPath)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			ts, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
			if ts < to && ts > evaluatorSince && strings.Contains(line, "now the cluster evaluator") {
				evaluator, evaluatorSince = nodeName(o), ts
			}
			if ts < from || ts > to {
				continue
			}
			switch {
			case strings.Contains(line, "component=cluster-evaluator"):
				w.lines = append(w.lines, line)
			case strings.Contains(line, name):
				w.lines = append(w.lines, line)
			case strings.Contains(line, "memberlist: Suspect ") || strings.Contains(line, "Marking "):
				w.suspicions++
			case strings.Contains(line, "handler queue full"):
				w.dropped++
			}
		}
		views[o] = w
		droppedAll += w.dropped
	}
	slowest := views[hosts[0]]
	m.t.Logf("  %s saw %d suspicions or failures of other nodes meanwhile, dropped %d gossip messages (handler queue full); its namespace's UDP counters since the start: %s",
		nodeName(hosts[0]), slowest.suspicions, slowest.dropped, m.udpDrops(hosts[0]))
	if evaluator == "" {
		evaluator, evaluatorSince = "none yet", "-"
	}
	m.t.Logf("  all observers dropped %d gossip messages in the window; the cluster evaluator: %s (since %s)", droppedAll, evaluator, evaluatorSince)
	for _, line := range slowest.lines {
		m.t.Logf("  %s: %s", nodeName(hosts[0]), line)
	}
	if fast >= len(hosts)/2 {
		return
	}
	// Most observers late: the suspicion itself started late, or the
	// verdict spread slowly from the few who had it. The first
	// lines about name across all logs say who suspected it first, when,
	// and by which path.
	var first []string
	for _, o := range hosts {
		for _, line := range views[o].lines {
			if strings.Contains(line, "memberlist: ") { // suspicions, confirmations, deaths
				first = append(first, nodeName(o)+": "+line)
			}
		}
	}
	stamp := func(l string) string { _, ts, _ := strings.Cut(l, "time="); return ts }
	slices.SortFunc(first, func(a, b string) int { return cmp.Compare(stamp(a), stamp(b)) })
	for _, line := range first[:min(8, len(first))] {
		m.t.Logf("  first: %s", line)
	}
}

// udpDrops reads host i's UDP receive errors from its namespace's
// /proc/net/snmp: datagrams the kernel dropped because the agent did not
// read its socket fast enough (RcvbufErrors), cumulative since the
// namespace was made.
func (m *meshLab) udpDrops(i int) string {
	out, err := m.lab.Exec(i, "cat", "/proc/net/snmp").Output()
	if err != nil {
		return "unreadable: " + err.Error()
	}
	var head []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "Udp:" {
			continue
		}
		if head == nil {
			head = f[1:]
			continue
		}
		var parts []string
		for k, v := range f[1:] {
			if k < len(head) && (head[k] == "InDatagrams" || head[k] == "InErrors" || head[k] == "RcvbufErrors") {
				parts = append(parts, head[k]+"="+v)
			}
		}
		return strings.Join(parts, " ")
	}
	return "no Udp line"
}

// doctorCLI runs `kuma-agent doctor --cluster --format json` (and extra
// flags: --fresh) against node i's control socket (a file: no namespace
// needed) and returns the report and the exit code.
func (m *meshLab) doctorCLI(i int, extra ...string) (doctor.ClusterReport, int, error) {
	cmd := exec.Command(m.bin, append([]string{"doctor", "--cluster", "--format", "json", "--config", m.node(i).cfgPath}, extra...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		return doctor.ClusterReport{}, -1, err
	}
	var rep doctor.ClusterReport
	if err := json.Unmarshal(out, &rep); err != nil {
		return rep, code, fmt.Errorf("doctor --cluster (exit %d): %w: %s %s", code, err, out, stderr.String())
	}
	return rep, code, nil
}

func (m *meshLab) dumpLogs() {
	for _, n := range m.nodes {
		b, err := os.ReadFile(n.logPath)
		if err != nil {
			continue
		}
		const maxLog = 64 << 10 // the tail is what matters
		if len(b) > maxLog {
			b = b[len(b)-maxLog:]
		}
		m.t.Logf("==== log of %s (host %d, %s):\n%s", n.name, n.host, n.logPath, b)
	}
}

// hosts returns 1..n except the given ones.
func hosts(n int, except ...int) []int {
	var out []int
outer:
	for i := 1; i <= n; i++ {
		for _, e := range except {
			if i == e {
				continue outer
			}
		}
		out = append(out, i)
	}
	return out
}

// needE2E skips the long scenarios `make e2e` runs by name unless
// KUMA_E2E is set: `make test` runs this package too, and running them
// twice in one CI run only spends its time bound.
func needE2E(t testing.TB) {
	t.Helper()
	testlab.NeedE2E(t, "an end-to-end scenario of `make e2e`")
}
