package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/testlab/testpki"
)

// One node's certificate 5 days from expiry travels in its doctor answer
// and is one cluster-certs finding naming that node, with the renewal; its
// /metrics has the certificate's expiry and the resources gauges.
func TestClusterCerts(t *testing.T) {
	due := time.Now().Add(5 * 24 * time.Hour).Truncate(time.Second)
	const holder = "core-2.test.local"
	tc := startCluster(t, func(name string, cfg *config.Config, o *Options) {
		cfg.Events.Enabled = false // every agent evaluates for itself: no lease to wait for
		if name != holder {
			return
		}
		f := filepath.Join(t.TempDir(), "site.pem")
		if err := os.WriteFile(f, testpki.CertPEM(t, "site-api", due), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Checks.Certs.ExtraPaths = []string{f}
	})
	n := tc.nodes["core-1.test.local"]
	n.waitAlive(t, 3)
	var got clusterchecks.NamedResult
	eventually(t, "cluster-certs names "+holder, 60*time.Second, func() bool {
		rep := n.doctorAnswer(t, control.ClusterDoctorArgs{Fresh: true})
		for _, r := range rep.Cluster {
			if r.Name == clusterchecks.CertsCheckName {
				got = r
			}
		}
		return got.Result.Status == checks.Crit
	})
	if strings.Join(got.Nodes, ",") != holder || !strings.Contains(got.Result.Message, holder+": ") ||
		!strings.Contains(got.Result.Message, "site.pem: CN=site-api") || got.Result.Remedy == "" {
		t.Fatalf("%+v", got)
	}
	// The gauges come from each check's own run, which on a busy machine
	// may come after the fresh doctor answer: polled, not read once.
	wants := []string{"kuma_agent_certificate_expiry_timestamp_seconds{file=", `subject="CN=site-api,O=kuma-agent test"`,
		"kuma_agent_memory_available_bytes ", `kuma_agent_load_per_cpu_ratio{window="15m"}`, "kuma_agent_disk_free_bytes{path="}
	var missing []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		m := tc.nodes[holder].metricsText(t)
		missing = missing[:0]
		for _, want := range wants {
			if !strings.Contains(m, want) {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, want := range missing {
		t.Errorf("/metrics of %s lacks %q (60 s)", holder, want)
	}
}
