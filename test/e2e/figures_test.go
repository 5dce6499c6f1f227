package e2e

// Figures: measurements of the real agent in network namespaces, gated by
// environment variables so that a plain `go test` stays fast. Run as root:
//
//	KUMA_FIG_DETECT=1         go test -count=1 -timeout 30m -run TestFigureDetection    -v ./test/e2e/
//	KUMA_FIG_SOAK=10m         go test -count=1 -timeout 30m -run TestFigureSoak         -v ./test/e2e/
//	KUMA_FIG_IDLE=1           go test -count=1 -timeout 10m -run TestFigureIdle         -v ./test/e2e/
//	KUMA_FIG_CLUSTERDOCTOR=1  go test -count=1 -timeout 10m -run TestFigureClusterDoctor -v ./test/e2e/
//	KUMA_FIG_HOST_TAINT=5     go test -count=1 -timeout 30m -run TestFigureHostTaint    -v ./test/e2e/
//
// KUMA_FIG_AGENTS=5,50 sets the cluster sizes each runs (defaults: 3,5 for
// detection, 5 for the soak, 7 for idle and cluster doctor; at most
// netlab.MaxHosts). KUMA_FIG_DETECT_WARMUP=30s pauses between the cold
// start and the first detection trial. KUMA_FIG_DETECT_SETTLE=20s sets the pause after a heal
// before the next trial (default 1s); `-run TestFigureDetection/lan-5`
// picks one case. KUMA_FIG_START_GAP=200ms paces the agents' starts (50
// agents booting at once on two shared cores starve each other).
// KUMA_FIG_INTERVAL=10m sets the check interval of meshes over 9 agents
// (default 30s, the product's; the evaluator runs on it too).
// KUMA_FIG_IDLE_SETTLE=5m waits that long after the start before the idle
// window (default 10s); KUMA_FIG_IDLE_WINDOW=20m sets the window (60s).
// KUMA_FIG_NO_RELEASE=1 runs the agents with agent.release_exe_pages_every
// 0 (an A/B of giving back the executable's pages).
// The agents run with the shipped unit's Environment= (none today);
// KUMA_FIG_AGENT_ENV="GOGC=50 GOMEMLIMIT=24MiB" adds to it, a later value
// winning (the memory figures). Each prints its numbers with t.Log
// (lines starting "FIGURE"), every one with the cold-start convergence
// time of its mesh and the load average when it began.

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/testlab/netlab"
)

func figureEnv(t *testing.T, name string) string {
	v := os.Getenv(name)
	if v == "" {
		t.Skipf("figure: set %s to run it", name)
	}
	return v
}

// figureDuration reads the duration in the environment variable name, or
// def when it is not set; a value that does not parse stops the test.
func figureDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		fatalf(t, "%s: %v", name, err)
	}
	return d
}

// figureSizes is KUMA_FIG_AGENTS (comma-separated cluster sizes), else def.
func figureSizes(t *testing.T, def ...int) []int {
	v := os.Getenv("KUMA_FIG_AGENTS")
	if v == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 || n > netlab.MaxHosts {
			fatalf(t, "KUMA_FIG_AGENTS: %q: want sizes 2..%d", f, netlab.MaxHosts)
		}
		out = append(out, n)
	}
	return out
}

// figureMesh is the lab for a figure at n agents: up to 9 every host a
// Core with checks every 2 s (the figures measured before sizes existed);
// larger, the shape of a distributed install (3 Cores, the rest
// collectors) with the checks at their default interval (30 s).
func figureMesh(t *testing.T, n int, o meshOpts) *meshLab {
	o.Hosts = n
	if n > 9 {
		o.Cores = 3
		if o.Interval == 0 {
			o.Interval = figureDuration(t, "KUMA_FIG_INTERVAL", 30*time.Second)
			if o.Interval <= 0 {
				fatalf(t, "KUMA_FIG_INTERVAL=%v: want a positive duration", o.Interval)
			}
		}
	}
	return newMesh(t, o)
}

// startAll starts every agent of a fresh mesh of n and waits until each
// lists all n alive: the cold-start convergence, logged as a figure.
func (m *meshLab) startAll(t *testing.T, n int) []int {
	t.Helper()
	t.Logf("load average at start: %s", loadAvg())
	all := hosts(n)
	// The figures measure the agent as it ships: with the unit's
	// Environment= first, KUMA_FIG_AGENT_ENV after it (the later
	// value of a name wins).
	unitEnv := unitEnvironment(t)
	t.Logf("agents' environment from the unit: %v", unitEnv)
	for _, i := range all {
		m.node(i).env = append(m.node(i).env, unitEnv...)
	}
	if env := strings.Fields(os.Getenv("KUMA_FIG_AGENT_ENV")); len(env) > 0 {
		t.Logf("agents' extra environment: %v", env)
		for _, i := range all {
			m.node(i).env = append(m.node(i).env, env...)
		}
	}
	// KUMA_FIG_START_GAP paces the starts: 50 agents booting at once on two
	// shared cores starve each other (each start costs about 0.2 s of CPU),
	// which real hosts, each with its own CPU, never do.
	gap := figureDuration(t, "KUMA_FIG_START_GAP", 0)
	st := time.Now()
	for _, i := range all {
		m.start(i)
		time.Sleep(gap)
	}
	started := time.Now()
	eventuallyEvery(t, "mesh formed", 60*time.Second+time.Duration(n)*3*time.Second, m.pollGap(), func() bool { return m.aliveIn(all, n) })
	t.Logf("FIGURE converge agents=%d start_gap=%v cold start to every agent listing %d alive: %v (%v after the last start)",
		n, gap, n, time.Since(st).Round(10*time.Millisecond), time.Since(started).Round(10*time.Millisecond))
	return all
}

// loadAvg is the first three fields of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// TestFigureDetection: time from kill -9 / cut-off of one agent until
// every other agent lists it as failed, 3 and 5 agents (KUMA_FIG_AGENTS),
// the lan profile (20 trials) and serf's stock timing (5 trials) for
// comparison.
func TestFigureDetection(t *testing.T) {
	figureEnv(t, "KUMA_FIG_DETECT")
	// An agent that was just cut off has Lifeguard's awareness score at its
	// maximum (its probes failed with no nacks) and probes up to 8x slower
	// until it recovers; the pause after a heal decides whether the next
	// trial sees that. KUMA_FIG_DETECT_SETTLE sets it (default 1s), and
	// the same pause follows the restart before the cut: a node cut off
	// a second after its restart (until 11-28 evening) was often still
	// under suspicion from agents its busy start had starved (upstream's
	// path, the 5 s floor), which is the start, not the cut, being
	// measured (6.2 s once at 50).
	settle := figureDuration(t, "KUMA_FIG_DETECT_SETTLE", time.Second)
	// KUMA_FIG_DETECT_WARMUP is a pause between the cold start and the
	// first trial (default none): 50 agents booting on the lab's 2 shared
	// cores (first evaluations, JetStream placement) are not the settled
	// cluster the trials measure; each host boots on its own CPU.
	warmup := figureDuration(t, "KUMA_FIG_DETECT_WARMUP", 0)
	for _, profile := range []struct {
		name   string
		trials int
	}{{"lan", 20}, {"stock", 5}} {
		for _, n := range figureSizes(t, 3, 5) {
			t.Run(fmt.Sprintf("%s-%d", profile.name, n), func(t *testing.T) {
				m := figureMesh(t, n, meshOpts{Profile: profile.name})
				all := m.startAll(t, n)
				if warmup > 0 {
					t.Logf("warm-up before the first trial: %v", warmup)
					time.Sleep(warmup)
				}
				res := map[string][]time.Duration{}
				var cutTook []time.Duration // how long each cut took (t0 is before it)
				for trial := 0; trial < profile.trials; trial++ {
					victim := 2 + trial%(n-1) // host 1 always observes
					others := hosts(n, victim)
					time.Sleep(settle) // let the last recovery settle

					t0 := time.Now()
					m.node(victim).proc.Kill()
					res["kill-9"] = append(res["kill-9"], m.waitDetected(others, nodeName(victim), "failed", t0, 60*time.Second))
					m.start(victim)
					eventuallyEvery(t, "restarted agent back", 60*time.Second, m.pollGap(), func() bool { return m.aliveIn(all, n) })
					time.Sleep(settle)

					t0 = time.Now()
					if err := m.lab.CutOff(victim); err != nil {
						fatal(t, err)
					}
					cutTook = append(cutTook, time.Since(t0))
					res["cut-off"] = append(res["cut-off"], m.waitDetected(others, nodeName(victim), "failed", t0, 60*time.Second))
					if err := m.lab.Heal(victim); err != nil {
						fatal(t, err)
					}
					eventuallyEvery(t, "healed agent back", 90*time.Second, m.pollGap(), func() bool { return m.aliveIn(all, n) })
				}
				t.Logf("load average at end: %s", loadAvg())
				t.Logf("the cut (the switch port set down, t0 before it) took median %v max %v: %v", median(cutTook), slices.Max(cutTook), rounded(cutTook))
				for _, kind := range []string{"kill-9", "cut-off"} {
					ds := res[kind]
					t.Logf("FIGURE detection profile=%s agents=%d kind=%s trials=%d median=%v max=%v min=%v all=%v",
						profile.name, n, kind, len(ds), median(ds), slices.Max(ds), slices.Min(ds), rounded(ds))
				}
			})
		}
	}
}

// TestFigureSoak: 5 agents (KUMA_FIG_AGENTS) while CPU burners (two per
// core) keep the machine saturated for KUMA_FIG_SOAK; no agent may ever be
// marked failed.
func TestFigureSoak(t *testing.T) {
	dur, err := time.ParseDuration(figureEnv(t, "KUMA_FIG_SOAK"))
	if err != nil {
		fatalf(t, "KUMA_FIG_SOAK: %v", err)
	}
	for _, n := range figureSizes(t, 5) {
		t.Run(fmt.Sprintf("agents-%d", n), func(t *testing.T) { soak(t, n, dur) })
	}
}

func soak(t *testing.T, n int, dur time.Duration) {
	m := figureMesh(t, n, meshOpts{})
	all := m.startAll(t, n)
	// Failures while the agents boot are counted apart: only the soak's
	// window must have none.
	startupFailed, logFrom := 0, map[string]int{}
	for _, nd := range m.nodes {
		b, _ := os.ReadFile(nd.logPath)
		startupFailed += strings.Count(string(b), "event=failed")
		logFrom[nd.logPath] = len(b)
	}
	burners := 2 * runtime.NumCPU()
	for b := 0; b < burners; b++ {
		p, err := m.lab.Start(1+b%n, "", "sh", "-c", "while :; do :; done")
		if err != nil {
			fatal(t, err)
		}
		defer p.Kill()
	}
	// Poll every view once a second (a round of n polls, then a second's
	// pause); count every change away from alive.
	last := map[string]string{}
	transitions, polls, pollErrs := 0, 0, 0
	var slowest time.Duration
	end := time.Now().Add(dur)
	for time.Now().Before(end) {
		for _, o := range all {
			st := time.Now()
			ms, err := m.members(o)
			slowest = max(slowest, time.Since(st))
			polls++
			if err != nil {
				pollErrs++
				continue
			}
			for name, mi := range ms {
				k := fmt.Sprintf("%d/%s", o, name)
				if mi.Status != "alive" && last[k] != mi.Status {
					transitions++
					t.Logf("%s: host %d sees %s %s", time.Now().Format(time.TimeOnly), o, name, mi.Status)
				}
				last[k] = mi.Status
			}
			if len(ms) != n {
				transitions++
				t.Logf("host %d sees %d members", o, len(ms))
			}
		}
		time.Sleep(time.Second)
	}
	// The soak window's verdicts and the suspicions the last ping spared
	// (memberlist's own lines, in every agent's log), so that a failed run
	// says who accused whom and a passing one what the last ping did.
	failedLines, spared, suspicions := 0, 0, 0
	var verdicts []string
	for _, nd := range m.nodes {
		b, _ := os.ReadFile(nd.logPath)
		window := string(b[min(logFrom[nd.logPath], len(b)):])
		failedLines += strings.Count(window, "event=failed")
		spared += strings.Count(window, "Not marking")
		suspicions += strings.Count(window, "memberlist: Suspect ")
		for _, line := range strings.Split(window, "\n") {
			if strings.Contains(line, "memberlist: Marking ") || strings.Contains(line, "Not marking") {
				verdicts = append(verdicts, nd.name+": "+line)
			}
		}
	}
	for i, v := range verdicts {
		if i == 40 {
			t.Logf("... %d more verdict lines", len(verdicts)-i)
			break
		}
		t.Log(v)
	}
	t.Logf("FIGURE soak agents=%d burners=%d cpus=%d duration=%v polls=%d poll_errors=%d slowest_poll=%v non_alive_transitions=%d failed_events_in_logs=%d (while booting, before the soak: %d) suspicions_raised=%d spared_by_last_ping=%d load_at_end=%s",
		n, burners, runtime.NumCPU(), dur, polls, pollErrs, slowest.Round(time.Millisecond), transitions, failedLines, startupFailed, suspicions, spared, loadAvg())
	if transitions != 0 || failedLines != 0 || pollErrs != 0 {
		errorf(t, "false failures under CPU load: %d transitions, %d failed events, %d unanswered polls", transitions, failedLines, pollErrs)
	}
}

// TestFigureIdle: a 7-member mesh (KUMA_FIG_AGENTS) with events (JetStream
// on the 3 hubs core-1..3, the others leaf nodes) idle for 60 s
// (KUMA_FIG_IDLE_WINDOW) with the default check interval (30 s): resident
// memory and CPU of each agent, hubs and leaves apart, and the gossip
// traffic (UDP and TCP to or from the mesh port, counted by nftables in
// each namespace).
func TestFigureIdle(t *testing.T) {
	figureEnv(t, "KUMA_FIG_IDLE")
	for _, n := range figureSizes(t, 7) {
		t.Run(fmt.Sprintf("agents-%d", n), func(t *testing.T) { idle(t, n) })
	}
}

func idle(t *testing.T, n int) {
	const hubs = 3 // config default events.embedded.jetstream_servers
	m := figureMesh(t, n, meshOpts{Interval: 30 * time.Second})
	all := m.startAll(t, n)
	// Past startup: first check round, join traffic. KUMA_FIG_IDLE_SETTLE
	// (default 10s) waits longer: the agents give back their executable's
	// start-up pages a minute in (agent.release_exe_pages_every), and what
	// comes back settles over the next minutes, so the memory figure is
	// taken after several minutes (or over KUMA_FIG_IDLE_WINDOW=20m).
	time.Sleep(figureDuration(t, "KUMA_FIG_IDLE_SETTLE", 10*time.Second))
	port := m.node(1).cfg.Mesh.Port
	for _, i := range all {
		m.countMeshBytes(t, i, port)
	}
	hz := clockTicks(t)
	before := map[int]int64{}
	rssBefore := 0.0 // MiB summed over the agents: the drift over the window
	for _, i := range all {
		pid := m.node(i).proc.PID()
		before[i] = cpuTicks(t, pid)
		rssBefore += float64(vmRSSkB(t, pid)) / 1024
	}
	// KUMA_FIG_IDLE_WINDOW (default 60s): a longer window shows whether
	// memory creeps (the figure prints the mean at its start too).
	window := figureDuration(t, "KUMA_FIG_IDLE_WINDOW", 60*time.Second)
	start := time.Now()
	time.Sleep(window)
	elapsed := time.Since(start).Seconds()
	type agg struct{ n, rssMax, rssSum, anonSum, fileSum, cpuMax, cpuSum, bytesSum float64 }
	var every, hub, leaf agg
	for _, i := range all {
		pid := m.node(i).proc.PID()
		rss := float64(vmRSSkB(t, pid)) / 1024
		anon, file := float64(statusKB(t, pid, "RssAnon"))/1024, float64(statusKB(t, pid, "RssFile"))/1024
		cpu := float64(cpuTicks(t, pid)-before[i]) / float64(hz) / elapsed * 100
		bps := float64(m.meshBytes(t, i)) / elapsed
		t.Logf("%s pid %d: RSS %.1f MiB (anonymous %.1f, file %.1f), CPU %.3f%% of a core, gossip out %.0f B/s", m.node(i).name, pid, rss, anon, file, cpu, bps)
		group := &leaf
		if i <= hubs {
			group = &hub
		}
		for _, a := range []*agg{&every, group} {
			a.n++
			a.rssMax, a.rssSum = max(a.rssMax, rss), a.rssSum+rss
			a.anonSum, a.fileSum = a.anonSum+anon, a.fileSum+file
			a.cpuMax, a.cpuSum = max(a.cpuMax, cpu), a.cpuSum+cpu
			a.bytesSum += bps
		}
	}
	t.Logf("FIGURE idle agents=%d rss_mib mean at the window's start %.1f, at its end %.1f (window %.0fs)",
		n, rssBefore/every.n, every.rssSum/every.n, elapsed)
	for _, g := range []struct {
		name string
		a    agg
	}{{"all", every}, {"hubs", hub}, {"leaves", leaf}} {
		if g.a.n == 0 {
			continue
		}
		t.Logf("FIGURE idle agents=%d group=%s window=%.0fs rss_mib max=%.1f mean=%.1f (anonymous %.1f, file %.1f) cpu_pct max=%.3f mean=%.3f gossip_out_bytes_per_s mean=%.0f (targets: RSS <= 30 MB, CPU <= 1%%)",
			n, g.name, elapsed, g.a.rssMax, g.a.rssSum/g.a.n, g.a.anonSum/g.a.n, g.a.fileSum/g.a.n, g.a.cpuMax, g.a.cpuSum/g.a.n, g.a.bytesSum/g.a.n)
	}
	// The cost of the continuous cluster evaluation at this size: the
	// evaluator's latest pass (its four queries and the checks), as
	// `doctor --cluster` shows it.
	if rep, _, err := m.doctorCLI(1); err != nil {
		errorf(t, "doctor --cluster: %v", err)
	} else {
		t.Logf("FIGURE evaluation agents=%d evaluator=%s duration_ms=%.0f age_s=%.0f nodes=%d unanswered=%d",
			n, rep.Evaluator, rep.Summary.DurationMS, rep.AgeSeconds, len(rep.Nodes), len(rep.Unanswered))
	}
	t.Logf("load average at end: %s", loadAvg())
	if every.rssMax > 30*1e6/(1<<20) || every.cpuMax > 1 {
		errorf(t, "over target: RSS max %.1f MiB (30 MB = %.1f MiB), CPU max %.3f%%", every.rssMax, 30*1e6/(1<<20), every.cpuMax)
	}
}

// countMeshBytes adds an nftables table to host i that counts what it
// sends from or to the mesh port (gossip UDP and push/pull TCP).
func (m *meshLab) countMeshBytes(t *testing.T, i, port int) {
	t.Helper()
	rules := fmt.Sprintf(`table inet kumafig {
	chain out {
		type filter hook output priority 0; policy accept;
		meta l4proto { tcp, udp } th sport %d counter
		meta l4proto { tcp, udp } th dport %d counter
	}
}
`, port, port)
	cmd := m.lab.Exec(i, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		fatalf(t, "nft in host %d: %v: %s", i, err, out)
	}
}

// meshBytes is the sum of host i's kumafig counters.
func (m *meshLab) meshBytes(t *testing.T, i int) int64 {
	t.Helper()
	out, err := m.lab.Exec(i, "nft", "list", "table", "inet", "kumafig").CombinedOutput()
	if err != nil {
		fatalf(t, "nft list in host %d: %v: %s", i, err, out)
	}
	var sum int64
	f := strings.Fields(string(out))
	for j := 0; j+1 < len(f); j++ {
		if f[j] == "bytes" {
			b, err := strconv.ParseInt(f[j+1], 10, 64)
			if err != nil {
				fatalf(t, "nft counter %q: %v", f[j+1], err)
			}
			sum += b
		}
	}
	return sum
}

// TestFigureClusterDoctor: wall time of `kuma-agent doctor --cluster`
// (the CLI process, start to exit) on a 7-node mesh (KUMA_FIG_AGENTS), 20
// runs.
func TestFigureClusterDoctor(t *testing.T) {
	figureEnv(t, "KUMA_FIG_CLUSTERDOCTOR")
	for _, n := range figureSizes(t, 7) {
		t.Run(fmt.Sprintf("agents-%d", n), func(t *testing.T) { clusterDoctor(t, n) })
	}
}

func clusterDoctor(t *testing.T, n int) {
	const runs = 20
	m := figureMesh(t, n, meshOpts{})
	m.startAll(t, n)
	time.Sleep(3 * time.Second) // first check round done
	var wall, inAgent []time.Duration
	for r := 0; r < runs; r++ {
		st := time.Now()
		rep, code, err := m.doctorCLI(1+r%n, "--fresh")
		wall = append(wall, time.Since(st))
		if err != nil {
			fatal(t, err)
		}
		if len(rep.Nodes) != n || len(rep.Unanswered) != 0 {
			errorf(t, "run %d: %d nodes answered, unanswered %v (exit %d)", r, len(rep.Nodes), rep.Unanswered, code)
		}
		inAgent = append(inAgent, time.Duration(rep.Summary.DurationMS*float64(time.Millisecond)))
	}
	t.Logf("FIGURE cluster-doctor nodes=%d runs=%d wall median=%v max=%v; in-agent median=%v max=%v",
		n, runs, median(wall), slices.Max(wall).Round(time.Millisecond), median(inAgent), slices.Max(inAgent).Round(time.Millisecond))
}

// TestFigureHostTaint: time from the death of the worker running the KUMA
// Core pod (cut off from the switch, agent killed, Node marked Unknown by
// the test as the node controller would) to the out-of-service taint on
// its Node, on the control-plane lab (real etcd, kube-apiserver, 5 agents,
// kubernetes.failover.after 2s, interval 1s), KUMA_FIG_HOST_TAINT trials; and
// from its return to the taint's removal.
func TestFigureHostTaint(t *testing.T) {
	v := figureEnv(t, "KUMA_FIG_HOST_TAINT")
	trials, err := strconv.Atoi(v)
	if err != nil || trials < 1 {
		fatalf(t, "KUMA_FIG_HOST_TAINT: %q: want a number of trials", v)
	}
	load := loadAvg()
	cp := newControlPlane(t)
	eventually(t, "an evaluator", 60*time.Second, func() bool {
		rep, err := cp.evaluation(1)
		return err == nil && rep.Evaluator != ""
	})
	var detect, toTaint, verdict, untaint []time.Duration
	for range trials {
		c := cp.taintCycle(t)
		detect, toTaint, untaint = append(detect, c.detect), append(toTaint, c.toTaint), append(untaint, c.toUntaint)
		verdict = append(verdict, time.Duration(c.sinceVerdictMS*float64(time.Millisecond)))
		time.Sleep(2 * time.Second) // the returned worker's Lifeguard score settles
	}
	for _, f := range []struct {
		kind string
		ds   []time.Duration
	}{{"death-to-failed", detect}, {"death-to-taint", toTaint}, {"verdict-to-taint", verdict}, {"return-to-untaint", untaint}} {
		t.Logf("FIGURE taint agents=5 after=%v kind=%s trials=%d median=%v max=%v min=%v all=%v load=%s",
			failoverAfter, f.kind, len(f.ds), median(f.ds), slices.Max(f.ds), slices.Min(f.ds), rounded(f.ds), load)
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2].Round(time.Millisecond)
	}
	return ((s[len(s)/2-1] + s[len(s)/2]) / 2).Round(time.Millisecond)
}

func rounded(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(10 * time.Millisecond)
	}
	return out
}

// cpuTicks is utime+stime of pid, in clock ticks (/proc/PID/stat fields
// 14 and 15, counted after the parenthesised command name).
func cpuTicks(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		fatal(t, err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// f[0] is field 3 (state): utime is field 14 -> f[11], stime f[12].
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		fatalf(t, "/proc/%d/stat: %q", pid, s)
	}
	return u + st
}

func vmRSSkB(t *testing.T, pid int) int64 { return statusKB(t, pid, "VmRSS") }

// statusKB is a kB field of /proc/pid/status: VmRSS, and its parts RssAnon
// (the heap, stacks: what GOGC and GOMEMLIMIT move) and RssFile (the
// binary's pages in use: what its size moves).
func statusKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		fatal(t, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				fatalf(t, "%s %q: %v", field, v, err)
			}
			return kb
		}
	}
	fatalf(t, "/proc/%d/status has no %s", pid, field)
	return 0
}

func clockTicks(t *testing.T) int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err != nil {
		t.Logf("getconf CLK_TCK: %v; assuming 100", err)
		return 100
	}
	hz, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil || hz <= 0 {
		return 100
	}
	return hz
}

// unitEnvironment is the shipped unit's Environment= settings, NAME=value
// each (the unit uses no quoting: a quote is an error here).
func unitEnvironment(t *testing.T) []string {
	t.Helper()
	const unit = "../../packaging/kuma-agent.service"
	b, err := os.ReadFile(unit)
	if err != nil {
		fatal(t, err)
	}
	var env []string
	for ln, line := range strings.Split(string(b), "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "Environment=")
		if !ok {
			continue
		}
		for _, kv := range strings.Fields(v) {
			if !strings.Contains(kv, "=") || strings.ContainsAny(kv, `"'`) {
				fatalf(t, "%s:%d: %q: want NAME=value without quotes", unit, ln+1, kv)
			}
			env = append(env, kv)
		}
	}
	return env
}
