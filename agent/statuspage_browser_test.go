package agent

import (
	"context"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/statuspage"
	"github.com/kuma-agent/kuma-agent/internal/testlab/browser"
	"github.com/kuma-agent/kuma-agent/internal/testlab/ntpserver"
	"github.com/kuma-agent/kuma-agent/internal/testlab/sandbox"
)

const (
	demoCore1     = "kuma-core-1.demo.local"
	demoCore2     = "kuma-core-2.demo.local"
	demoCore3     = "kuma-core-3.demo.local"
	demoCollector = "kuma-collector-1.demo.local"
)

// startDemo runs the demo cluster (sandbox.DemoInventory) in this process on
// the test's own addresses, with faults (sandbox.DemoFaults and the skewed
// clock) or without, and returns core-1 once it sees all five alive.
// Events are off: every agent evaluates the cluster for itself (self
// mode), so core-1's page has the measurements.
func startDemo(t *testing.T, broken bool) *testNode {
	t.Helper()
	var faults map[string]sandbox.Fault
	var skewNTP string
	if broken {
		faults = sandbox.DemoFaults
		bad, err := ntpserver.Listen("127.0.0.1:0", sandbox.DemoSkew, 2)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { bad.Close() })
		skewNTP = bad.Addr()
	}
	tc := startClusterWith(t, sandbox.DemoInventory(testNet), faults, func(name string, cfg *config.Config, o *Options) {
		cfg.Events.Enabled = false
		cfg.Checks.FailuresBeforeCritical = 1 // as the demo: no flap damping to wait out
		// Five agents, the race detector and Chromium on a busy machine:
		// an answer may take longer than the 5 s of startClusterWith, and
		// the page shows an evaluation that missed it. A gathering ends as
		// soon as every live node answered, so this costs nothing when
		// they do.
		cfg.Mesh.QueryTimeout = 15 * time.Second
		// Without events every agent evaluates for itself: five
		// evaluators' four queries each per interval. At 1 s their
		// answers overflow the query handlers' bound (8 at once) on a
		// busy machine, and evaluations miss nodes.
		cfg.Checks.Interval = 3 * time.Second
		if !broken {
			// The healthy cluster must stay healthy on a machine whose
			// load delays the fake NTP server's answers by 100 ms and more.
			cfg.Checks.NTP.WarnOffset, cfg.Checks.NTP.CritOffset = time.Second, 2*time.Second
		}
		if broken && name == sandbox.DemoSkewed {
			o.ClockOffset = sandbox.DemoSkew
			cfg.Checks.NTP.Servers = []string{skewNTP}
		}
	})
	n1 := tc.nodes[demoCore1]
	n1.waitAlive(t, 5)
	return n1
}

// waitPage waits until what n's status page would show satisfies ok (its
// own statusPageInput, the function its listener calls) and returns that
// state. The page is a live view: on a busy machine a member flaps or an
// evaluation misses an answer, so the test renders the state it checked,
// not whatever the next evaluation brings.
func waitPage(t *testing.T, n *testNode, what string, ok func(statuspage.Input) bool) statuspage.Input {
	t.Helper()
	var in statuspage.Input
	defer func() {
		if t.Failed() && in.Report != nil {
			for _, c := range in.Report.Cluster {
				t.Logf("last evaluation: %s %v: %s", c.Name, c.Result.Status, c.Result.Message)
			}
		}
	}()
	eventually(t, what, 4*time.Minute, func() bool {
		in = n.agent.statusPageInput(context.Background())
		return in.Report != nil && len(in.Report.Nodes) == 5 && len(in.Report.Unanswered) == 0 && in.Measured != nil && ok(in)
	})
	return in
}

// capture serves the status page of state in (statuspage.Handler, as the
// agent's listener does) on a loopback port of its own, loads it in
// Chromium, writes the screenshot to file and returns the DOM.
func capture(t *testing.T, chrome *browser.Chromium, in statuspage.Input, file string) *html.Node {
	t.Helper()
	srv := httptest.NewServer(statuspage.Handler{Input: func(context.Context) statuspage.Input { return in }})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dom, err := chrome.Capture(ctx, srv.URL+"/status", file, 1400, 1500)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(strings.TrimSuffix(file, ".png")+".html", []byte(dom), 0o644); err != nil {
		t.Fatal(err)
	}
	doc, err := browser.Parse(dom)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", file)
	return doc
}

// measured is the values of check in in's measurements.
func measured(in statuspage.Input, check string) map[string]float64 {
	for _, c := range in.Measured {
		if c.Name == check {
			return c.Values
		}
	}
	return nil
}

// servesPage checks the agent's own listener: GET /status is the page
// (naming every member), / redirects there, a POST is refused.
func servesPage(t *testing.T, n *testNode, members ...string) {
	t.Helper()
	base := "http://" + n.cfg.Agent.HTTPAddr
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/status" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'none'") {
		t.Errorf("GET / -> %s: %d, CSP %q", resp.Request.URL.Path, resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	for _, m := range members {
		if !strings.Contains(string(body), `data-member="`+m+`"`) {
			t.Errorf("the agent's page does not list %s", m)
		}
	}
	resp, err = http.Post(base+"/status", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /status: %d", resp.StatusCode)
	}
}

func elems(doc *html.Node, class string, attrs ...string) []*html.Node {
	return browser.Find(doc, func(n *html.Node) bool {
		if !browser.HasClass(n, class) {
			return false
		}
		for i := 0; i+1 < len(attrs); i += 2 {
			if v, _ := browser.Attr(n, attrs[i]); v != attrs[i+1] {
				return false
			}
		}
		return true
	})
}

// legendRed is the red of the matrix's legend: a 12 x 12 swatch.
const legendRed = 12 * 12

// redPixels counts the pixels of a failing edge's red (#d32f2f) in a PNG.
func redPixels(t *testing.T, file string) int {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	near := func(a uint32, b int) bool { d := int(a>>8) - b; return d >= -3 && d <= 3 }
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r, 0xd3) && near(g, 0x2f) && near(bl, 0x2f) {
				n++
			}
		}
	}
	return n
}

func screenshotDir(t *testing.T) string {
	dir := os.Getenv("KUMA_SCREENSHOT_DIR")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The status page as an operator sees it, in headless Chromium: the demo
// cluster healthy, then broken the demo's way (core-3's services down,
// collector's hosts file wrong, storage a clone of core-1 with its clock
// 1.5 s ahead). The DOM must show the members, the findings and the
// failing edges red; the screenshots (KUMA_SCREENSHOT_DIR, else the test's
// temp dir) must show red exactly when an edge fails.
func TestStatusPageInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two 5-node clusters and Chromium")
	}
	chrome := browser.New(t)
	dir := screenshotDir(t)

	t.Run("healthy", func(t *testing.T) {
		n1 := startDemo(t, false)
		in := waitPage(t, n1, "a healthy cluster on core-1's page", func(in statuspage.Input) bool {
			for _, m := range in.Members {
				if m.Status != "alive" || m.Health != "ok" {
					return false
				}
			}
			return len(in.Members) == 5 && in.Report.Status == checks.OK && len(measured(in, clusterchecks.ClockCheckName)) == 5 &&
				len(measured(in, "cluster-reachability")) == 5
		})
		servesPage(t, n1, demoCore1, demoCore2, demoCore3, demoCollector, sandbox.DemoSkewed)
		file := filepath.Join(dir, "statuspage-healthy.png")
		doc := capture(t, chrome, in, file)
		if ms := elems(doc, "member", "data-status", "ok", "data-health", "ok"); len(ms) != 5 {
			t.Errorf("%d alive healthy members, want 5", len(ms))
		}
		if fs, ok := elems(doc, "finding"), elems(doc, "finding", "data-status", "ok"); len(fs) == 0 || len(fs) != len(ok) {
			t.Errorf("%d cluster findings, %d ok", len(fs), len(ok))
		}
		// The demo's port matrix: 8 pairs must reach each other.
		if ok, fail := elems(doc, "cell", "class", "cell ok"), elems(doc, "cell", "class", "cell fail"); len(ok) != 8 || len(fail) != 0 {
			t.Errorf("matrix: %d ok cells (want 8), %d failing (want 0)", len(ok), len(fail))
		}
		if sk := elems(doc, "skew", "data-status", "ok"); len(sk) != 5 {
			t.Errorf("%d nodes with an ok clock, want 5", len(sk))
		}
		if m := elems(doc, "margin", "data-group", "raft", "data-status", "ok"); len(m) != 1 {
			t.Error("no ok raft quorum margin")
		}
		if n := redPixels(t, file); n != legendRed {
			t.Errorf("healthy screenshot has %d red pixels, want only the legend's %d", n, legendRed)
		}
	})

	t.Run("broken", func(t *testing.T) {
		n1 := startDemo(t, true)
		in := waitPage(t, n1, "the demo's faults on core-1's page", func(in statuspage.Input) bool {
			st := clusterStatus(*in.Report)
			health := map[string]string{}
			for _, m := range in.Members {
				health[m.Name] = m.Health
			}
			// The clock may be judged warn only: a skew is judged by what
			// exceeds the measurement's bound, wide on a busy machine.
			skewed := slices.ContainsFunc(in.Measured, func(c clusterchecks.NamedResult) bool {
				return c.Name == clusterchecks.ClockCheckName && slices.Contains(c.Nodes, sandbox.DemoSkewed)
			})
			// core-3's services are down: its ports refuse (the paths are
			// open), which the reachability check rates a warning.
			return st["cluster-reachability"] != checks.OK && st["cluster-machine-id"] == checks.Crit &&
				st[clusterchecks.ClockCheckName] != checks.OK && skewed && health[demoCore3] == "crit" &&
				len(measured(in, "cluster-reachability")) == 5
		})
		file := filepath.Join(dir, "statuspage-broken.png")
		doc := capture(t, chrome, in, file)
		for _, from := range []string{demoCore1, demoCore2} {
			if c := elems(doc, "cell", "data-from", from, "data-to", demoCore3); len(c) != 1 || !browser.HasClass(c[0], "fail") {
				t.Errorf("edge %s -> %s not drawn failing", from, demoCore3)
			}
		}
		for _, from := range []string{demoCore2, demoCollector} {
			if c := elems(doc, "cell", "data-from", from, "data-to", demoCore1); len(c) != 1 || !browser.HasClass(c[0], "ok") {
				t.Errorf("edge %s -> %s not drawn ok", from, demoCore1)
			}
		}
		if len(elems(doc, "finding", "data-check", "cluster-machine-id", "data-status", "crit")) != 1 {
			t.Errorf("finding cluster-machine-id not shown critical")
		}
		for _, check := range []string{"cluster-reachability", clusterchecks.ClockCheckName} {
			if len(elems(doc, "finding", "data-check", check)) != 1 || len(elems(doc, "finding", "data-check", check, "data-status", "ok")) != 0 {
				t.Errorf("finding %s missing or shown ok", check)
			}
		}
		if len(elems(doc, "skew", "data-node", sandbox.DemoSkewed)) != 1 || len(elems(doc, "skew", "data-node", sandbox.DemoSkewed, "data-status", "ok")) != 0 {
			t.Errorf("%s's clock not shown skewed", sandbox.DemoSkewed)
		}
		if len(elems(doc, "member", "data-member", demoCore3, "data-health", "crit")) != 1 {
			t.Errorf("%s's health not shown critical", demoCore3)
		}
		if ov := browser.Find(doc, func(n *html.Node) bool { v, _ := browser.Attr(n, "id"); return v == "overall" }); len(ov) != 1 || strings.TrimSpace(browser.Text(ov[0])) != "crit" {
			t.Error("the overall status is not crit")
		}
		if n := redPixels(t, file); n < legendRed+500 {
			t.Errorf("broken screenshot has %d red pixels: the failing edges are not drawn red", n)
		}
	})
}

func clusterStatus(rep control.ClusterReport) map[string]checks.Status {
	out := map[string]checks.Status{}
	for _, c := range rep.Cluster {
		out[c.Name] = c.Result.Status
	}
	return out
}
