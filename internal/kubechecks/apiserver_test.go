package kubechecks

import (
	"context"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/testlab/kubelab"
)

// The k0s findings from a real API server: the test plays the node
// controller (w1 NotReady) and Longhorn's manager (a degraded volume).
func TestK0sFindingsFromAPIServer(t *testing.T) {
	s := kubelab.Start(t, kubelab.Options{})
	c := s.Client(t, kubelab.K0s)
	s.CreateNode(t, "w1", "Unknown")
	s.CreateNode(t, "w2", "True")
	s.CreateNamespace(t, "kuma")
	s.CreatePod(t, "kuma", "core-deployment-1", "w1", "Running")
	s.CreateLonghornCRDs(t)
	s.PutLonghorn(t, "volumes", "pvc-core", `{"numberOfReplicas":3}`, `{"state":"attached","robustness":"degraded","currentNodeID":"w1"}`)
	s.PutLonghorn(t, "nodes", "w2", `{}`, `{"conditions":[{"type":"Ready","status":"True"},{"type":"Schedulable","status":"True"}]}`)

	f := Gather(context.Background(), c, cluster.LayoutK0s, DefaultCoreSelector, time.Now())
	want := map[string]checks.Status{NodesCheckName: checks.Crit, CorePodCheckName: checks.Crit, LonghornVolumesCheckName: checks.Warn, LonghornNodesCheckName: checks.OK}
	rs := All(f)
	if len(rs) != len(want) {
		t.Fatalf("results: %+v", rs)
	}
	for _, r := range rs {
		if r.Result.Status != want[r.Name] {
			t.Errorf("%s: %v %s (%v)", r.Name, r.Result.Status, r.Result.Message, r.Result.Details)
		}
	}
	if n := find(t, rs, CorePodCheckName); len(n.Nodes) != 1 || n.Nodes[0] != "w1" {
		t.Errorf("core pod nodes: %v", n.Nodes)
	}
}
