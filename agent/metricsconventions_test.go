package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/metrics"
	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/testlab"
	"github.com/kuma-agent/kuma-agent/supervisor"
)

// oneCoreInventory is a cluster of one Core: events on, it holds the lease
// and evaluates, so its /metrics has every family an agent without
// supervision exports.
var oneCoreInventory = fmt.Sprintf(`kuma:
  children:
    kuma_core:
      hosts:
        core-1.test.local:
          ip: %[1]s1
`, testNet)

// promtoolProblems runs `promtool check metrics` on text (Prometheus's own
// lint of names, units, _total and HELP/TYPE) and returns what it reports,
// "" when nothing.
func promtoolProblems(t *testing.T, text string) string {
	t.Helper()
	cmd := exec.Command(testlab.ToolPath(t, "promtool"), "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		return fmt.Sprintf("%v: %s", err, out)
	}
	return ""
}

func promtoolLint(t *testing.T, text string) {
	t.Helper()
	if p := promtoolProblems(t, text); p != "" {
		t.Errorf("promtool check metrics: %s\non:\n%s", p, text)
	}
}

// The lint is live: what the old families did wrong it reports.
func TestPromtoolReportsConventionBreaks(t *testing.T) {
	for _, bad := range []string{
		"# HELP x_dropped_ms X.\n# TYPE x_dropped_ms counter\nx_dropped_ms 1\n", // no _total, abbreviated unit
		"# TYPE x_total counter\nx_total 1\n",                                   // no HELP
	} {
		if promtoolProblems(t, bad) == "" {
			t.Errorf("promtool found nothing wrong in:\n%s", bad)
		}
	}
}

// allFamilies is a registry with every family the agent exports, each with
// a series: the ones registered at start, the event pipeline's, and a
// supervised unit's.
func allFamilies() *metrics.Registry {
	m := newAgentMetrics("test")
	registerEventMetrics(m.reg)
	m.checkStatus.With("ntp").Set(0)
	m.statusChanges.With("ntp", "ok").Inc()
	m.members.With("alive").Set(1)
	m.memberEvents.With("member-join").Inc()
	m.health.With("core-1").Set(0)
	m.dropped.With("events").SetTotal(0)
	m.gaveUp.With("kuma-core-1.service").Set(0)
	m.cluster.status.With("cluster-quorum").Set(0)
	m.cluster.margin.With("raft").Set(1)
	m.cluster.skew.With("core-1").Set(0)
	m.cluster.nodeStatus.With("cluster-reachability", "core-1").Set(2)
	m.cluster.certs.With("core-1").Set(86400)
	// The checks' own numbers (resources, certs), one series each.
	var samples []checks.Sample
	for _, d := range checks.AllMetrics {
		samples = append(samples, checks.Sample{Metric: d, Labels: slices.Repeat([]string{"x"}, len(d.Labels)), Value: 1})
	}
	var g checkGauges
	g.collect(m.reg, []checks.Check{&measuring{samples: samples}})
	return m.reg
}

// Every family the agent can export passes promtool's lint.
func TestEveryMetricFamilyPassesPromtool(t *testing.T) {
	var buf bytes.Buffer
	if err := allFamilies().WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "# TYPE "); n != len(allFamilies().Names()) {
		t.Fatalf("%d families written, %d registered", n, len(allFamilies().Names()))
	}
	promtoolLint(t, buf.String())
}

// A running agent's own /metrics passes promtool's lint, and a real
// VictoriaMetrics scrapes it: a query through its HTTP API reads the series
// back with the agent's values.
func TestRunningAgentMetricsLintAndScrape(t *testing.T) {
	testlab.NeedTools(t, "promtool")
	vm := testlab.ToolPath(t, "victoria-metrics")
	tc := startClusterFrom(t, oneCoreInventory, nil)
	n := tc.nodes["core-1.test.local"]
	var text string
	// Liveness bound: the lease bucket needs JetStream up, slow on a busy machine.
	eventually(t, "the one Core evaluates and publishes", 120*time.Second, func() bool {
		text = n.metricsText(t)
		return strings.Contains(text, "kuma_agent_cluster_evaluator 1") &&
			strings.Contains(text, `kuma_agent_cluster_quorum_margin{group="raft"}`) &&
			strings.Contains(text, "kuma_agent_outbox_pending_events ")
	})
	promtoolLint(t, text)

	dir := t.TempDir()
	scrape := filepath.Join(dir, "scrape.yml")
	if err := os.WriteFile(scrape, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
scrape_configs:
  - job_name: kuma-agent
    static_configs:
      - targets: [%q]
`, n.cfg.Agent.HTTPAddr)), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testlab.FreePort(t, "tcp"))
	d := testlab.StartDaemon(t, vm, "-storageDataPath="+filepath.Join(dir, "data"), "-httpListenAddr="+addr,
		"-promscrape.config="+scrape, "-promscrape.config.strictParse", "-search.latencyOffset=0s", "-retentionPeriod=1d")

	type vmAnswer struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	query := func(q string) (vmAnswer, error) {
		var a vmAnswer
		resp, err := http.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return a, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return a, fmt.Errorf("status %d", resp.StatusCode)
		}
		return a, json.NewDecoder(resp.Body).Decode(&a)
	}
	var last vmAnswer
	var lastErr error
	eventually(t, "VictoriaMetrics has scraped the agent", 60*time.Second, func() bool {
		select {
		case <-d.Exited():
			t.Fatalf("victoria-metrics exited:\n%s", d.Output.String())
		default:
		}
		last, lastErr = query(`kuma_agent_cluster_quorum_margin{job="kuma-agent",group="raft"}`)
		return lastErr == nil && len(last.Data.Result) == 1
	})
	// The agent's own value, as it exported it.
	_, rest, _ := strings.Cut(text, `kuma_agent_cluster_quorum_margin{group="raft"} `)
	want, _, _ := strings.Cut(rest, "\n")
	r := last.Data.Result[0]
	if r.Metric["instance"] != n.cfg.Agent.HTTPAddr || r.Value[1] != want {
		t.Errorf("quorum margin read back: %v = %v; want instance %s, value %q", r.Metric, r.Value, n.cfg.Agent.HTTPAddr, want)
	}
	b, err := query(`kuma_agent_build_info`)
	if err != nil || len(b.Data.Result) != 1 || b.Data.Result[0].Metric["version"] != "test" {
		t.Errorf("build info read back: %+v, %v", b, err)
	}
}

// The gave-up gauge follows the supervisor's units: 1 once healing gave up,
// 0 otherwise, gone with the unit.
func TestSupervisorGaveUpGauge(t *testing.T) {
	m := newAgentMetrics("test")
	text := func() string {
		var b bytes.Buffer
		if err := m.reg.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	setGaveUp(m.gaveUp, []supervisor.UnitStatus{{Unit: "kuma-core-1.service", GaveUp: true}, {Unit: "kuma-collector-1.service"}})
	got := text()
	for _, want := range []string{`kuma_agent_supervisor_unit_gave_up{unit="kuma-core-1.service"} 1`, `kuma_agent_supervisor_unit_gave_up{unit="kuma-collector-1.service"} 0`} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %s:\n%s", want, got)
		}
	}
	setGaveUp(m.gaveUp, []supervisor.UnitStatus{{Unit: "kuma-collector-1.service"}})
	if got := text(); strings.Contains(got, "kuma-core-1.service") {
		t.Errorf("a unit no longer supervised lingers:\n%s", got)
	}
}

// A cluster finding that is not ok shows on each node it is about; ok
// findings and findings about no node add nothing.
func TestClusterCheckNodeStatus(t *testing.T) {
	m := newAgentMetrics("test")
	setNodeStatus(m.cluster.nodeStatus, []clusterchecks.NamedResult{
		{Name: "cluster-reachability", Result: checks.Result{Status: checks.Crit}, Nodes: []string{"core-1", "core-2"}},
		{Name: "cluster-clock", Result: checks.Result{Status: checks.Warn}, Nodes: []string{"core-3"}},
		{Name: "cluster-hosts", Result: checks.Result{Status: checks.OK}, Nodes: []string{"core-1"}},
		{Name: "cluster-raft", Result: checks.Result{Status: checks.Crit}},
	})
	var b bytes.Buffer
	if err := m.reg.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(l, "kuma_agent_cluster_check_node_status{") {
			got = append(got, l)
		}
	}
	want := []string{
		`kuma_agent_cluster_check_node_status{check="cluster-clock",node="core-3"} 1`,
		`kuma_agent_cluster_check_node_status{check="cluster-reachability",node="core-1"} 2`,
		`kuma_agent_cluster_check_node_status{check="cluster-reachability",node="core-2"} 2`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
