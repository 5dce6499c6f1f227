package main

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/testlab/sandbox"
)

// clusterAgent is a control socket answering doctor-cluster as the agent
// does: the latest continuous evaluation (core-2.x's, 12.3 s old) unless
// asked for a fresh one.
func clusterAgent(t *testing.T) string {
	t.Helper()
	rep := control.ClusterReport{
		Self:    "core-1.x",
		Members: []control.MemberInfo{{Name: "core-1.x", Roles: []string{"core"}}},
		Nodes: []clusterchecks.DoctorReply{{Host: "core-1.x", Findings: []clusterchecks.FindingWire{
			clusterchecks.FindingOf("ntp", checks.AreaTime, checks.Result{Status: checks.Warn, Message: "offset 300ms", Remedy: "chronyc makestep", Details: []string{"server a"}}),
		}}},
		Unanswered: []string{},
		Cluster: []clusterchecks.NamedResult{{Name: "cluster-clock", Nodes: []string{"core-3.x"}, Values: map[string]float64{"core-3.x": 2},
			Result: checks.Result{Status: checks.Crit, Message: "clock skew", Remedy: "ntp", Details: []string{"core-3.x: +2s"}}}},
		Status: checks.Crit, DurationMS: 42,
	}
	return fakeAgentHandlers(t, map[string]control.Handler{
		control.OpClusterDoctor: func(_ context.Context, raw json.RawMessage) (any, error) {
			var args control.ClusterDoctorArgs
			if err := json.Unmarshal(raw, &args); err != nil {
				return nil, err
			}
			r := rep
			if args.Fresh {
				r.Fresh, r.Evaluator, r.EvaluatedAt = true, "core-1.x", time.Now()
			} else {
				r.Evaluator, r.EvaluatedAt, r.AgeSeconds = "core-2.x", time.Now().Add(-12300*time.Millisecond), 12.3
			}
			return r, nil
		},
	})
}

// doctor --cluster shows the latest continuous evaluation with its age and
// evaluator; --fresh asks for a new one; --fresh alone is a usage error.
func TestDoctorClusterLatestOrFresh(t *testing.T) {
	cfg := clusterAgent(t)
	code, out, errOut := run(context.Background(), "doctor", "--cluster", "--config", cfg)
	if code != 2 || !strings.Contains(out, "the continuous evaluation of core-2.x, 12.3s old (--fresh: evaluate now)") {
		t.Errorf("exit %d (want 2: a critical finding), stderr %q:\n%s", code, errOut, out)
	}
	code, out, _ = run(context.Background(), "doctor", "--cluster", "--fresh", "--config", cfg)
	if code != 2 || !strings.Contains(out, "evaluated now by core-1.x") {
		t.Errorf("--fresh: exit %d:\n%s", code, out)
	}
	if code, _, errOut := run(context.Background(), "doctor", "--fresh", "--config", cfg); code != 2 || !strings.Contains(errOut, "--fresh applies to --cluster only") {
		t.Errorf("--fresh without --cluster: exit %d, %q", code, errOut)
	}
}

// A script reads `doctor --format json` and `doctor --cluster --format
// json` alike: every finding of both has the same fields, the cluster-wide
// ones with host "cluster".
func TestDoctorClusterJSONHasTheLocalFindingShape(t *testing.T) {
	n := newNode(t, sandbox.Fault{ServicesDown: true}) // failing findings: with remedies
	_, local, _ := n.doctor(t, "--format", "json")
	_, clusterOut, errOut := run(context.Background(), "doctor", "--cluster", "--format", "json", "--config", clusterAgent(t))

	keys := func(what, out string) (map[string]bool, []map[string]any) {
		var doc struct {
			Findings []map[string]any `json:"findings"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Findings) == 0 {
			t.Fatalf("%s: %v, %d findings:\n%s %s", what, err, len(doc.Findings), out, errOut)
		}
		all := map[string]bool{}
		for _, f := range doc.Findings {
			for k := range f {
				all[k] = true
			}
		}
		return all, doc.Findings
	}
	lk, _ := keys("doctor", local)
	ck, cf := keys("doctor --cluster", clusterOut)
	if !maps.Equal(lk, ck) {
		t.Errorf("finding fields differ:\n local   %v\n cluster %v", slices.Sorted(maps.Keys(lk)), slices.Sorted(maps.Keys(ck)))
	}
	for _, k := range []string{"check", "status", "message", "details", "remedy", "host"} {
		if !ck[k] {
			t.Errorf("cluster findings lack %q", k)
		}
	}
	hosts := map[string]string{}
	for _, f := range cf {
		hosts[f["check"].(string)] = f["host"].(string)
	}
	if hosts["ntp"] != "core-1.x" || hosts["cluster-clock"] != "cluster" {
		t.Errorf("hosts %v, want ntp on core-1.x and cluster-clock on cluster", hosts)
	}

	var doc struct {
		Evaluator  string  `json:"evaluator"`
		AgeSeconds float64 `json:"age_seconds"`
		Fresh      bool    `json:"fresh"`
		Summary    struct {
			Status string `json:"status"`
			Total  int    `json:"total"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(clusterOut), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Evaluator != "core-2.x" || doc.AgeSeconds != 12.3 || doc.Fresh || doc.Summary.Status != "crit" || doc.Summary.Total != 2 {
		t.Errorf("cluster json header %+v", doc)
	}
}
