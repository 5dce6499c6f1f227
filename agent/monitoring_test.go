package agent

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/testlab"
	"gopkg.in/yaml.v3"
)

// monitoringDir holds the alert rules, their promtool tests and the
// Grafana dashboard the packages ship in /usr/share/kuma-agent/monitoring.
const monitoringDir = "../packaging/monitoring"

const (
	rulesFile     = "kuma-agent.rules.yml"
	rulesTestFile = "kuma-agent.rules.test.yml"
	dashboardFile = "kuma-agent.dashboard.json"
)

// notExportedHere are the metric names the rules and the dashboard may use
// that this tree's registry lacks, each with why. The certificate and disk
// prediction gauges come with checks built on other branches under exactly
// these names (README: Monitoring); once the registry has one, its entry
// here must go (the test says so).
var notExportedHere = map[string]string{
	"up": "the scraper's own series per target",
}

var (
	promqlStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promqlMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promqlGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promqlVars     = regexp.MustCompile(`\$\{?[a-zA-Z_][a-zA-Z0-9_]*\}?`)
	promqlIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promqlKeywords = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan"}
)

// promqlMetricNames is a rough reading of the metric names an expression
// selects: strings, label matchers, grouping clauses, ranges and template
// variables are cut out; what is left that is an identifier, not a
// function call (followed by "("), not a keyword and not part of a number
// is a metric name.
func promqlMetricNames(expr string) []string {
	s := promqlStrings.ReplaceAllString(expr, " ")
	s = promqlMatchers.ReplaceAllString(s, " ")
	s = promqlGrouping.ReplaceAllString(s, " ")
	s = promqlRanges.ReplaceAllString(s, " ")
	s = promqlVars.ReplaceAllString(s, " ")
	var out []string
	for _, loc := range promqlIdent.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		if loc[0] > 0 && (s[loc[0]-1] >= '0' && s[loc[0]-1] <= '9' || s[loc[0]-1] == '.') {
			continue // the exponent or suffix of a number: 1e3
		}
		if strings.HasPrefix(strings.TrimLeft(s[loc[1]:], " \t\n"), "(") || slices.Contains(promqlKeywords, strings.ToLower(name)) {
			continue
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

func TestPromQLMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`kuma_agent_check_status == 2`: {"kuma_agent_check_status"},
		`max without (instance) (kuma_agent_cluster_check_status{check="a{b}"}) == 2`:    {"kuma_agent_cluster_check_status"},
		`increase(kuma_agent_outbox_dropped_events_total[15m]) > 1e3`:                    {"kuma_agent_outbox_dropped_events_total"},
		`sum by (instance) (a_total{job=~"$job"} > bool 0) / on (instance) group_left b`: {"a_total", "b"},
		`up{job="kuma-agent"} == 0 and c unless d offset 5m`:                             {"up", "c", "d"},
		`sum(rate(x_total{job=~"${job}"}[$__rate_interval])) by (le) * 14 * 86400 < Inf`: {"x_total"},
	} {
		if got := promqlMetricNames(expr); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", expr, got, want)
		}
	}
}

// checkNamesExported reports each metric name of expr that the agent does
// not export and notExportedHere does not explain.
func checkNamesExported(t *testing.T, where, expr string, exported []string) {
	t.Helper()
	names := promqlMetricNames(expr)
	if len(names) == 0 {
		t.Errorf("%s: %q selects no metric", where, expr)
	}
	for _, n := range names {
		if !slices.Contains(exported, n) && notExportedHere[n] == "" {
			t.Errorf("%s: %q uses %s, which the agent does not export (exported: %v)", where, expr, n, exported)
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert  string            `yaml:"alert"`
			Expr   string            `yaml:"expr"`
			Labels map[string]string `yaml:"labels"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type ruleTestFile struct {
	Tests []struct {
		AlertRuleTest []struct {
			EvalTime  string `yaml:"eval_time"`
			AlertName string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func readYAML(t *testing.T, path string, out any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// promtool runs promtool in dir and returns its output and error.
func promtool(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(testlab.ToolPath(t, "promtool"), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The rules are valid (promtool check rules) and their tests pass (promtool
// test rules); the tests are live: a rule that no longer breaks on what it
// should (a threshold moved) fails them.
func TestAlertRulesPassPromtool(t *testing.T) {
	if out, err := promtool(t, monitoringDir, "check", "rules", rulesFile); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if out, err := promtool(t, monitoringDir, "test", "rules", rulesTestFile); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}

	rules, err := os.ReadFile(filepath.Join(monitoringDir, rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join(monitoringDir, rulesTestFile))
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(rules), "expr: kuma_agent_check_status == 2", "expr: kuma_agent_check_status == 3", 1)
	if broken == string(rules) {
		t.Fatal("the node check rule's expression is not where this test expects it")
	}
	dir := t.TempDir()
	for name, body := range map[string]string{rulesFile: broken, rulesTestFile: string(tests)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := promtool(t, dir, "test", "rules", rulesTestFile); err == nil || !strings.Contains(out, "KumaAgentNodeCheckCritical") {
		t.Errorf("promtool test rules passed a broken node check rule (%v):\n%s", err, out)
	}
}

// Every alert rule is tested firing and, later, cleared; each has a
// severity; each expression names metrics the agent exports.
func TestEveryAlertRuleFiresAndClears(t *testing.T) {
	var rf ruleFile
	var tf ruleTestFile
	readYAML(t, filepath.Join(monitoringDir, rulesFile), &rf)
	readYAML(t, filepath.Join(monitoringDir, rulesTestFile), &tf)
	exported := allFamilies().Names()

	type seen struct{ fired, clearedAfter time.Duration }
	evals := map[string]*seen{}
	for _, tc := range tf.Tests {
		for _, e := range tc.AlertRuleTest {
			at, err := time.ParseDuration(e.EvalTime)
			if err != nil {
				t.Fatalf("%s: eval_time %q: %v", e.AlertName, e.EvalTime, err)
			}
			s := evals[e.AlertName]
			if s == nil {
				s = &seen{fired: -1, clearedAfter: -1}
				evals[e.AlertName] = s
			}
			switch {
			case len(e.ExpAlerts) > 0 && s.fired < 0:
				s.fired = at
			case len(e.ExpAlerts) == 0 && s.fired >= 0 && at > s.fired:
				s.clearedAfter = at
			}
		}
	}
	n := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if sev := r.Labels["severity"]; sev != "critical" && sev != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", r.Alert, sev)
			}
			checkNamesExported(t, rulesFile+": "+r.Alert, r.Expr, exported)
			s := evals[r.Alert]
			switch {
			case s == nil || s.fired < 0:
				t.Errorf("%s: no test sees it fire", r.Alert)
			case s.clearedAfter < 0:
				t.Errorf("%s: no test sees it clear after it fired (at %s)", r.Alert, s.fired)
			}
		}
	}
	for _, want := range []string{"KumaAgentNodeCheckCritical", "KumaAgentClusterCheckCritical", "KumaAgentQuorumMarginZero",
		"KumaAgentMemberFailed", "KumaAgentOutboxDroppingEvents", "KumaAgentSupervisorGaveUp", "KumaAgentCertificateExpiring",
		"KumaAgentDiskFullPredicted"} {
		if evals[want] == nil {
			t.Errorf("no rule test for %s", want)
		}
	}
	if n < 8 {
		t.Errorf("%d alert rules, want at least 8", n)
	}
	for name := range notExportedHere {
		if slices.Contains(exported, name) {
			t.Errorf("%s is exported now: remove it from notExportedHere", name)
		}
	}
}

type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos *struct{ X, Y, W, H int } `json:"gridPos"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a row's
}

// The dashboard is valid JSON, each panel complete, and every query names
// metrics the agent exports (or notExportedHere explains).
func TestDashboardQueriesNameExportedMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(monitoringDir, dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
		t.Fatalf("%s: uid %q, title %q, %d panels", dashboardFile, d.UID, d.Title, len(d.Panels))
	}
	exported := allFamilies().Names()
	ids := map[int]bool{}
	queries := 0
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if ids[p.ID] || p.Title == "" || p.Datasource == nil || p.Datasource.UID != "${datasource}" || p.GridPos == nil || p.GridPos.W == 0 || len(p.Targets) == 0 {
				t.Errorf("panel %d %q: duplicate id, no title, datasource other than ${datasource}, no size or no query", p.ID, p.Title)
			}
			ids[p.ID] = true
			for _, tg := range p.Targets {
				queries++
				checkNamesExported(t, dashboardFile+": "+p.Title, tg.Expr, exported)
			}
		}
	}
	walk(d.Panels)
	t.Logf("%d panels, %d queries", len(ids), queries)
	for _, want := range []string{"kuma_agent_members", "kuma_agent_check_status", "kuma_agent_cluster_quorum_margin",
		"kuma_agent_cluster_clock_skew_seconds", "kuma_agent_cluster_check_status", "kuma_agent_events_published_total"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the dashboard shows no %s", want)
		}
	}
}
