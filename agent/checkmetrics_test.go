package agent

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/agent/metrics"
	"github.com/kuma-agent/kuma-agent/checks"
)

type measuring struct{ samples []checks.Sample }

func (*measuring) Name() string                      { return "m" }
func (*measuring) Area() checks.Area                 { return checks.AreaHost }
func (*measuring) Run(context.Context) checks.Result { return checks.Okf("") }
func (m *measuring) Samples() []checks.Sample        { return m.samples }

func scrape(t *testing.T, r *metrics.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestCheckGaugesFollowTheLatestSamples(t *testing.T) {
	r := metrics.NewRegistry()
	var g checkGauges
	m := &measuring{samples: []checks.Sample{
		{Metric: checks.MetricMemoryAvailable, Value: 1024},
		{Metric: checks.MetricDiskThresholdETA, Labels: []string{"/var/lib"}, Value: 3600},
	}}
	cs := []checks.Check{m, &checks.Disk{}}
	r.Collect(func(r *metrics.Registry) { g.collect(r, cs) })
	out := scrape(t, r)
	for _, want := range []string{"kuma_agent_memory_available_bytes 1024", `kuma_agent_disk_threshold_eta_seconds{path="/var/lib"} 3600`, "# TYPE kuma_agent_disk_threshold_eta_seconds gauge"} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q:\n%s", want, out)
		}
	}
	// The disk stopped filling: its ETA series goes.
	m.samples = m.samples[:1]
	if out := scrape(t, r); strings.Contains(out, `eta_seconds{path="/var/lib"}`) {
		t.Errorf("stale series kept:\n%s", out)
	}
}
