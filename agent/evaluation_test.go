package agent

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/internal/config"
)

// doctorAnswer is n's answer to doctor-cluster with args.
func (n *testNode) doctorAnswer(t *testing.T, args control.ClusterDoctorArgs) control.ClusterReport {
	t.Helper()
	// A fresh evaluation may ask each query twice (mesh.query_timeout 5 s
	// in these tests) on a busy machine.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rep control.ClusterReport
	if err := control.Call(ctx, n.cfg.Agent.ControlSocket, control.OpClusterDoctor, args, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

func (n *testNode) metricsText(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + n.cfg.Agent.HTTPAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// Three agents with events: one of them evaluates (the lease holder) and
// every node's doctor-cluster answers its evaluation, with its age: the
// evaluator's own in full, the others' from the state stored beside the
// lease; --fresh evaluates where asked. Only the evaluator has the cluster
// gauges.
func TestOneEvaluatorAndDoctorAgree(t *testing.T) {
	tc := startCluster(t, func(name string, cfg *config.Config, o *Options) {
		if os.Getenv("DEBUGLOG") != "" {
			o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", name)
		}
	})
	names := []string{"core-1.test.local", "core-2.test.local", "core-3.test.local"}
	tc.nodes[names[0]].waitAlive(t, 3)
	var evaluator string
	// A liveness bound: the lease bucket is made once NATS is up, and on a
	// machine with both cores busy its creation and elections take long.
	eventually(t, "every node answers the same continuous evaluation", 150*time.Second, func() bool {
		evaluator = ""
		for _, name := range names {
			rep := tc.nodes[name].doctorAnswer(t, control.ClusterDoctorArgs{})
			if rep.Fresh || rep.Evaluator == "" || (evaluator != "" && rep.Evaluator != evaluator) {
				return false
			}
			evaluator = rep.Evaluator
		}
		return true
	})
	for _, name := range names {
		n := tc.nodes[name]
		rep := n.doctorAnswer(t, control.ClusterDoctorArgs{})
		if rep.Self != name || rep.AgeSeconds < 0 || rep.AgeSeconds > 10 || len(rep.Cluster) < 7 || rep.EvaluatedAt.IsZero() {
			t.Errorf("%s: self %s, age %.1fs, %d cluster findings, at %v", name, rep.Self, rep.AgeSeconds, len(rep.Cluster), rep.EvaluatedAt)
		}
		m := n.metricsText(t)
		if name == evaluator {
			if len(rep.Nodes) != 3 || rep.Note != "" {
				t.Errorf("evaluator %s: %d nodes' findings, note %q; want all 3, no note", name, len(rep.Nodes), rep.Note)
			}
			for _, want := range []string{"kuma_agent_cluster_evaluator 1", `kuma_agent_cluster_check_status{check="cluster-quorum"} 0`,
				`kuma_agent_cluster_quorum_margin{group="raft"} 1`, `kuma_agent_cluster_clock_skew_seconds{node="core-2.test.local"}`,
				"kuma_agent_cluster_evaluation_age_seconds ", "kuma_agent_cluster_evaluation_duration_seconds "} {
				if !strings.Contains(m, want) {
					t.Errorf("evaluator %s: /metrics lacks %q", name, want)
				}
			}
			continue
		}
		if len(rep.Nodes) != 0 || !strings.Contains(rep.Note, evaluator) {
			t.Errorf("%s (not the evaluator): %d nodes' findings, note %q; want the stored cluster findings and a note naming %s", name, len(rep.Nodes), rep.Note, evaluator)
		}
		if !strings.Contains(m, "kuma_agent_cluster_evaluator 0") || strings.Contains(m, "kuma_agent_cluster_check_status{") {
			t.Errorf("%s (not the evaluator): cluster gauges:\n%s", name, m)
		}
		fresh := n.doctorAnswer(t, control.ClusterDoctorArgs{Fresh: true})
		if !fresh.Fresh || fresh.Evaluator != name || len(fresh.Nodes) != 3 {
			t.Errorf("%s --fresh: fresh %v, evaluator %s, %d nodes", name, fresh.Fresh, fresh.Evaluator, len(fresh.Nodes))
		}
	}
}
