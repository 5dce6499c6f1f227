package statuspage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/inventory"
	"github.com/kuma-agent/kuma-agent/internal/testlab/browser"
	"github.com/kuma-agent/kuma-agent/internal/testlab/sandbox"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func demoInventory(t *testing.T) *cluster.Cluster {
	t.Helper()
	c, err := inventory.Parse("demo.yml", []byte(sandbox.DemoInventory("10.0.0.")))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const (
	core1, core2, core3 = "kuma-core-1.demo.local", "kuma-core-2.demo.local", "kuma-core-3.demo.local"
	collector, storage  = "kuma-collector-1.demo.local", "kuma-storage-1.demo.local"
)

// brokenInput is the demo's faults as the evaluator core-1 saw them:
// core-3's services down (everyone's edges to it fail), storage skewed,
// collector silent on the reachability query.
func brokenInput(t *testing.T) Input {
	inv := demoInventory(t)
	raft := cluster.PortRaft
	edges := []clusterchecks.Edge{
		{From: core1, To: core3, Port: raft, Reason: "connection refused"},
		{From: core2, To: core3, Port: raft, Reason: "connection refused"},
	}
	measured := []clusterchecks.NamedResult{
		{Name: "cluster-reachability", Result: checks.Critf("2 failing edges", "open 7209/tcp on "+core3), Nodes: []string{core1, core2, core3},
			Values: map[string]float64{core1: 1, core2: 1, core3: 0, storage: 0}, Edges: edges},
		{Name: clusterchecks.QuorumCheckName, Result: checks.Warnf("raft: margin 0", "start the Core on "+core3), Values: map[string]float64{"raft": 0}},
		{Name: clusterchecks.ClockCheckName, Result: checks.Critf("skew", "fix NTP on "+storage), Nodes: []string{storage},
			// core-2's 0.4 s is within its measurement's uncertainty: the
			// check did not name it, the page does not colour it.
			Values: map[string]float64{core1: 0, core2: -0.4, core3: 0.002, collector: 0, storage: 1.5}},
	}
	rep := &control.ClusterReport{Self: core1, Evaluator: core1, EvaluatedAt: now.Add(-3 * time.Second), Status: checks.Crit,
		Cluster: measured, Unanswered: []string{}, DurationMS: 120,
		Nodes: []clusterchecks.DoctorReply{{Host: core3, Findings: []clusterchecks.FindingWire{
			{Check: "ports", Status: "crit", Message: "7209/tcp not listening", Remedy: "systemctl start kuma-core"},
			{Check: "disk", Status: "ok", Message: "fine"}}}}}
	return Input{Cluster: "demo", Self: core1, Now: now, Inventory: inv, Report: rep, Measured: measured,
		Members: []control.MemberInfo{
			{Name: core1, Addr: "10.0.0.1", Status: "alive", Health: "ok", Roles: []string{"core"}},
			{Name: core3, Addr: "10.0.0.3", Status: "alive", Health: "crit", Failing: []string{"ports"}},
			{Name: storage, Addr: "10.0.0.21", Status: "failed", Health: "ok"},
		},
		Events: []Event{{Time: now.Add(-time.Minute), Type: "member.failed", Subject: storage, Severity: "critical", Summary: "failed"}}}
}

func render(t *testing.T, in Input) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, Build(in)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// parse returns the document's root, failing on what no browser would
// take as intended.
func parse(t *testing.T, s string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func cellOf(t *testing.T, doc *html.Node, from, to string) *html.Node {
	t.Helper()
	cs := browser.Find(doc, func(n *html.Node) bool {
		f, _ := browser.Attr(n, "data-from")
		d, _ := browser.Attr(n, "data-to")
		return n.Data == "td" && f == from && d == to
	})
	if len(cs) != 1 {
		t.Fatalf("%d cells %s -> %s", len(cs), from, to)
	}
	return cs[0]
}

func TestBrokenClusterPage(t *testing.T) {
	doc := parse(t, render(t, brokenInput(t)))
	for _, tc := range []struct {
		from, to, class string
	}{
		{core1, core3, cellFail}, {core2, core3, cellFail}, // the refused Raft port
		{core1, core2, cellOK},
		{collector, core1, cellUnknown}, // did not answer
		{storage, collector, cellNone},  // storage need not reach the collector
		{core3, core3, cellSelf},
	} {
		if c := cellOf(t, doc, tc.from, tc.to); !browser.HasClass(c, tc.class) {
			v, _ := browser.Attr(c, "class")
			t.Errorf("cell %s -> %s: class %q, want %q", tc.from, tc.to, v, tc.class)
		}
	}
	title, _ := browser.Attr(cellOf(t, doc, core1, core3), "title")
	if !strings.Contains(title, "7209/tcp") || !strings.Contains(title, "connection refused") {
		t.Errorf("failing cell's title %q lacks the port and reason", title)
	}
	rows := func(class, key, val, status string) int {
		return len(browser.Find(doc, func(n *html.Node) bool {
			v, _ := browser.Attr(n, key)
			s, _ := browser.Attr(n, "data-status")
			return browser.HasClass(n, class) && v == val && s == status
		}))
	}
	for _, c := range []struct{ class, key, val, status string }{
		{"finding", "data-check", "cluster-reachability", "crit"},
		{"finding", "data-check", "cluster-quorum", "warn"},
		{"node-finding", "data-node", core3, "crit"},
		{"margin", "data-group", "raft", "warn"},
		{"skew", "data-node", storage, "crit"},
		{"skew", "data-node", core2, "ok"},
		{"member", "data-member", storage, "crit"},
	} {
		if rows(c.class, c.key, c.val, c.status) != 1 {
			t.Errorf("no %s row with %s=%q status %s", c.class, c.key, c.val, c.status)
		}
	}
	if n := len(browser.Find(doc, func(n *html.Node) bool { return browser.HasClass(n, "node-finding") })); n != 1 {
		t.Errorf("%d node findings listed, want only the one that is not ok", n)
	}
	// The worst cluster finding first.
	fs := browser.Find(doc, func(n *html.Node) bool { return browser.HasClass(n, "finding") })
	if c, _ := browser.Attr(fs[0], "data-status"); c != "crit" {
		t.Errorf("first finding is %s", c)
	}
}

// hostile is every trick a name or message from the mesh could try.
const hostile = `<script>alert(1)</script>"'><img src=x onerror=alert(2)>` + "\u202e\x1b[31m\n</style><style>"

func hostileInput(t *testing.T) Input {
	in := brokenInput(t)
	h := hostile
	in.Cluster, in.Self = h, h
	in.Members = append(in.Members, control.MemberInfo{Name: h, Addr: h, Status: h, Health: h, Roles: []string{h}, Failing: []string{h},
		Version: h, Ignored: h, TagsError: h})
	in.Report.Evaluator, in.Report.Note = h, h
	in.Report.Unanswered = []string{h}
	in.Report.Nodes = append(in.Report.Nodes, clusterchecks.DoctorReply{Host: h, Findings: []clusterchecks.FindingWire{
		{Check: h, Status: h, Message: h, Remedy: h}}})
	in.Measured = append(in.Measured, clusterchecks.NamedResult{Name: h, Result: checks.Result{Status: checks.Crit, Message: h, Remedy: h, Details: []string{h}}, Nodes: []string{h}})
	in.Measured[0].Edges = append(in.Measured[0].Edges, clusterchecks.Edge{From: h, To: core1, Port: cluster.Port{Number: 1, Proto: cluster.TCP, Purpose: h}, Reason: h})
	in.Measured[0].Values[h] = 1
	in.Measured[1].Values[h] = -1
	in.Measured[2].Values[h] = 9
	in.Report.Cluster = in.Measured
	in.Events = append(in.Events, Event{Time: now, Type: h, Subject: h, Severity: h, Summary: h})
	return in
}

func TestHostileNamesStayText(t *testing.T) {
	out := render(t, hostileInput(t))
	doc := parse(t, out)
	for _, tag := range []string{"script", "img", "iframe", "object", "form"} {
		if n := browser.Find(doc, func(n *html.Node) bool { return n.Data == tag }); len(n) > 0 {
			t.Errorf("a %s element made it into the page", tag)
		}
	}
	if n := browser.Find(doc, func(n *html.Node) bool { return n.Data == "style" }); len(n) != 1 {
		t.Errorf("%d style elements, want the page's own one", len(n))
	}
	for _, n := range browser.Find(doc, func(*html.Node) bool { return true }) {
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") || a.Key == "src" || a.Key == "style" {
				t.Errorf("attribute %s=%q on <%s>", a.Key, a.Val, n.Data)
			}
		}
	}
	// Control and bidi characters are shown, not obeyed.
	if strings.ContainsAny(out, "\u202e\x1b") {
		t.Error("a raw bidi override or ESC reached the page")
	}
	if !strings.Contains(out, `&lt;script&gt;alert(1)&lt;/script&gt;`) || !strings.Contains(out, `\u202e\x1b[31m\n`) {
		t.Error("the hostile name is not shown as text")
	}
	// The hostile member is one row, its name intact as the row's key.
	ms := browser.Find(doc, func(n *html.Node) bool {
		v, _ := browser.Attr(n, "data-member")
		return v == text(hostile)
	})
	if len(ms) != 1 {
		t.Errorf("%d member rows carry the hostile name as data, want 1", len(ms))
	}
	// Classes are never taken from the input.
	for _, n := range browser.Find(doc, func(n *html.Node) bool { _, ok := browser.Attr(n, "class"); return ok }) {
		v, _ := browser.Attr(n, "class")
		if strings.ContainsAny(v, "<>\"'") || strings.Contains(v, "alert") {
			t.Errorf("class %q came from the input", v)
		}
	}
}

// A clock the check judged only a warning (its skew less the measurement's
// uncertainty) is not drawn critical, whatever the raw number.
func TestSkewFollowsTheClockCheck(t *testing.T) {
	in := brokenInput(t)
	in.Measured[2].Result = checks.Warnf("skew", "fix NTP")
	doc := parse(t, render(t, in))
	if n := browser.Find(doc, func(n *html.Node) bool {
		v, _ := browser.Attr(n, "data-node")
		s, _ := browser.Attr(n, "data-status")
		return browser.HasClass(n, "skew") && v == storage && s == "warn"
	}); len(n) != 1 {
		t.Error("a warned 1.5 s skew is not drawn as a warning")
	}
}

func TestEmptyAndPartialState(t *testing.T) {
	doc := parse(t, render(t, Input{}))
	out := render(t, Input{})
	for _, want := range []string{"not evaluated yet", "no member known yet", "no event recorded", "measured on the cluster evaluator only"} {
		if !strings.Contains(out, want) {
			t.Errorf("empty page lacks %q", want)
		}
	}
	if n := browser.Find(doc, func(n *html.Node) bool { return n.Data == "td" && browser.HasClass(n, "cell") }); len(n) != 0 {
		t.Errorf("empty page draws %d matrix cells", len(n))
	}

	// Another node's page: the evaluator's stored findings, no numbers.
	in := brokenInput(t)
	in.Self = core2
	in.Measured = nil
	in.Report.Nodes = nil
	out = render(t, in)
	if !strings.Contains(out, "measured on the cluster evaluator only ("+core1+"): its status page shows them") {
		t.Error("a non-evaluator's page does not say where the numbers are")
	}
	doc = parse(t, out)
	if n := browser.Find(doc, func(n *html.Node) bool { return browser.HasClass(n, "finding") }); len(n) != 3 {
		t.Errorf("%d stored findings, want 3", len(n))
	}
	if n := browser.Find(doc, func(n *html.Node) bool {
		return browser.HasClass(n, "cell") || browser.HasClass(n, "skew") || browser.HasClass(n, "margin")
	}); len(n) != 0 {
		t.Errorf("%d numbers drawn without a measurement", len(n))
	}

	// No inventory: no port matrix, but a failing edge is still red.
	in = brokenInput(t)
	in.Inventory = nil
	doc = parse(t, render(t, in))
	if !browser.HasClass(cellOf(t, doc, core1, core3), cellFail) || !browser.HasClass(cellOf(t, doc, core1, core2), cellNone) {
		t.Error("without an inventory: want the failing edge red and the rest blank")
	}
}

func TestRefreshBounded(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want int
	}{{0, 0}, {time.Second, 5}, {10 * time.Second, 10}, {48 * time.Hour, 3600}} {
		if got := Build(Input{Refresh: tc.in}).RefreshSeconds; got != tc.want {
			t.Errorf("refresh %v: %d s, want %d", tc.in, got, tc.want)
		}
	}
	out := render(t, Input{Refresh: 10 * time.Second})
	if !strings.Contains(out, `<meta http-equiv="refresh" content="10">`) {
		t.Error("no meta refresh")
	}
	if strings.Contains(render(t, Input{}), `http-equiv="refresh"`) {
		t.Error("meta refresh without asking")
	}
	for _, bad := range []string{"-1", "1.5", "x", "99999", "1e3"} {
		if _, err := ParseRefresh(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("refresh=%s: %v", bad, err)
		}
	}
}

func serve(t *testing.T, method, target string) *http.Response {
	t.Helper()
	h := Handler{Input: func(context.Context) Input { return brokenInput(t) }}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec.Result()
}

func TestHandlerReadOnlyAndLockedDown(t *testing.T) {
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions, "PROPFIND"} {
		resp := serve(t, m, "/status")
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d, Allow %q", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	resp := serve(t, http.MethodGet, "/status")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'none'", "form-action 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	// The one stylesheet is allowed by its hash: the page's own <style>.
	s := string(body)
	i, j := strings.Index(s, "<style>"), strings.Index(s, "</style>")
	sum := sha256.Sum256([]byte(s[i+len("<style>") : j]))
	if h := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, "style-src "+h) {
		t.Errorf("CSP %q does not allow the page's stylesheet %s", csp, h)
	}
	for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
		if resp.Header.Get(k) != v {
			t.Errorf("%s: %q", k, resp.Header.Get(k))
		}
	}
	head := serve(t, http.MethodHead, "/status")
	hb, _ := io.ReadAll(head.Body)
	if head.StatusCode != 200 || len(hb) != 0 || head.Header.Get("Content-Length") != resp.Header.Get("Content-Length") {
		t.Errorf("HEAD: %d, %d bytes, length %s vs %s", head.StatusCode, len(hb), head.Header.Get("Content-Length"), resp.Header.Get("Content-Length"))
	}
	if r := serve(t, http.MethodGet, "/status?refresh=abc"); r.StatusCode != http.StatusBadRequest {
		t.Errorf("bad refresh: %d", r.StatusCode)
	}
}

// FuzzPageText: whatever a member calls itself, it is text on the page:
// no element, no attribute, no raw control character.
func FuzzPageText(f *testing.F) {
	for _, s := range []string{hostile, "kuma-core-1", "", "\xff\xfe", "a\"b'c&d", "</td></tr></table><h1>x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		in := Input{Self: s, Members: []control.MemberInfo{{Name: s, Addr: s, Status: s, Health: s}},
			Events: []Event{{Type: s, Summary: s, Severity: s}}}
		var b bytes.Buffer
		if err := Render(&b, Build(in)); err != nil {
			t.Fatal(err)
		}
		doc, err := html.Parse(&b)
		if err != nil {
			t.Fatal(err)
		}
		els := map[string]int{}
		for _, n := range browser.Find(doc, func(*html.Node) bool { return true }) {
			els[n.Data]++
		}
		if els["script"]+els["img"]+els["iframe"] > 0 || els["tr"] != 4 || els["style"] != 1 {
			t.Errorf("name %q changed the page's structure: %v", s, els)
		}
		ms := browser.Find(doc, func(n *html.Node) bool { return browser.HasClass(n, "member") })
		if len(ms) != 1 {
			t.Fatalf("%d member rows", len(ms))
		}
		if v, _ := browser.Attr(ms[0], "data-member"); v != text(s) {
			t.Errorf("member key %q, want %q", v, text(s))
		}
	})
}
