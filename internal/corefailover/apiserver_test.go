package corefailover

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/kube"
	"github.com/kuma-agent/kuma-agent/internal/testlab/kubelab"
)

// labClient is a lab API server and the agent's client on it.
func labClient(t *testing.T) (*kubelab.APIServer, *kube.Client) {
	t.Helper()
	s := kubelab.Start(t, kubelab.Options{})
	return s, s.Client(t, kubelab.K0s)
}

func labNode(t *testing.T, s *kubelab.APIServer, name string) kube.Node {
	t.Helper()
	var n kube.Node
	if err := json.Unmarshal(s.MustDo(t, http.MethodGet, "/api/v1/nodes/"+name, nil), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// The whole episode against a real kube-apiserver, the test playing the
// node controller (NotReady), the taint manager and scheduler (the Core
// pod moved when the taint is there) and the kubelet (Ready again).
func TestFailoverEpisodeOnAPIServer(t *testing.T) {
	s, c := labClient(t)
	s.CreateNode(t, "w1", "True")
	s.CreateNode(t, "w2", "True")
	s.CreateNamespace(t, "kuma")
	s.CreatePod(t, "kuma", "core-deployment-1", "w1", "Running")
	inv := k0sCluster()
	now := t0
	f, got := newFailover(c, ModeOn, &now)
	reaches := 0
	ctx := context.Background()

	// Failed in the mesh, but Kubernetes still calls it Ready: nothing.
	if acts, err := f.Step(ctx, round(inv, "failed", 25*time.Second, &reaches)); err != nil || len(acts) != 0 || reaches != 0 {
		t.Fatalf("acted on a Ready node: %+v %v", acts, err)
	}
	// The node controller: NotReady. One pass applies the taint.
	s.SetNodeReady(t, "w1", "Unknown")
	if _, err := f.Step(ctx, round(inv, "failed", 25*time.Second, &reaches)); err != nil {
		t.Fatal(err)
	}
	n := labNode(t, s, "w1")
	if !n.HasTaint(kube.OutOfService.Key, kube.OutOfService.Effect) || n.Metadata.Annotations[kube.AppliedByAnnotation] == "" {
		t.Fatalf("w1 not tainted: %+v", n)
	}
	if len(*got) != 1 || (*got)[0].t != events.TaintApplied {
		t.Fatalf("events: %+v", *got)
	}
	// The controllers react: the pod goes, a new one runs on w2.
	s.DeletePod(t, "kuma", "core-deployment-1")
	s.CreatePod(t, "kuma", "core-deployment-2", "w2", "Running")
	if _, err := f.Step(ctx, round(inv, "failed", time.Minute, &reaches)); err != nil || len(*got) != 1 {
		t.Fatalf("second pass: %v, events %+v", err, *got)
	}
	// Back: Ready, alive in the mesh. The taint goes, the operator's other
	// taints stay.
	s.MustDo(t, http.MethodPatch, "/api/v1/nodes/w1", []byte(`[{"op":"add","path":"/spec/taints/-","value":{"key":"site/maintenance","effect":"NoSchedule"}}]`))
	s.SetNodeReady(t, "w1", "True")
	if _, err := f.Step(ctx, round(inv, "alive", time.Second, &reaches)); err != nil {
		t.Fatal(err)
	}
	n = labNode(t, s, "w1")
	if n.HasTaint(kube.OutOfService.Key, kube.OutOfService.Effect) || !n.HasTaint("site/maintenance", "NoSchedule") || n.Metadata.Annotations[kube.AppliedByAnnotation] != "" {
		t.Fatalf("w1 after its return: %+v", n)
	}
	if len(*got) != 2 || (*got)[1].t != events.TaintRemoved {
		t.Fatalf("events: %+v", *got)
	}
}

// A dry run and a minority write nothing to a real API server.
func TestDryRunAndMinorityOnAPIServer(t *testing.T) {
	s, c := labClient(t)
	s.CreateNode(t, "w1", "Unknown")
	s.CreateNamespace(t, "kuma")
	s.CreatePod(t, "kuma", "core-deployment-1", "w1", "Running")
	inv := k0sCluster()
	now := t0
	reaches := 0
	f, got := newFailover(c, ModeOn, &now)
	r := round(inv, "failed", time.Minute, &reaches)
	r.Majority = false
	if _, err := f.Step(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	d, dgot := newFailover(c, ModeDryRun, &now)
	if _, err := d.Step(context.Background(), round(inv, "failed", time.Minute, &reaches)); err != nil {
		t.Fatal(err)
	}
	if n := labNode(t, s, "w1"); n.HasTaint(kube.OutOfService.Key, kube.OutOfService.Effect) {
		t.Fatalf("tainted: %+v", n.Spec.Taints)
	}
	if len(*got) != 0 || len(*dgot) != 1 || (*dgot)[0].t != events.TaintWouldApply {
		t.Fatalf("minority events %+v, dry-run events %+v", *got, *dgot)
	}
}

// TestFigureTaintLatency measures a failover pass against a real API
// server from the moment the three verdicts hold (mesh failed for after,
// NotReady, every path failing) to the taint stored: the pass's reads,
// its decision and the patch. The agent runs a pass every
// kubernetes.failover.interval, so mesh verdict -> taint is at most that
// interval plus this.
//
//	KUMA_FIG_TAINT=1 go test -count=1 -run TestFigureTaintLatency -v ./internal/corefailover/
func TestFigureTaintLatency(t *testing.T) {
	if os.Getenv("KUMA_FIG_TAINT") == "" {
		t.Skip("figure: set KUMA_FIG_TAINT=1")
	}
	s, c := labClient(t)
	s.CreateNamespace(t, "kuma")
	inv := k0sCluster()
	var lat []time.Duration
	for i := range 20 {
		name := "w1"
		if i > 0 {
			s.MustDo(t, http.MethodDelete, "/api/v1/nodes/w1", nil)
			s.DeletePod(t, "kuma", "core-deployment-1")
		}
		s.CreateNode(t, name, "Unknown")
		s.CreatePod(t, "kuma", "core-deployment-1", name, "Running")
		now := time.Now()
		f, _ := newFailover(c, ModeOn, &now)
		reaches := 0
		r := round(inv, "failed", 0, &reaches)
		for j := range r.View.Members {
			r.View.Members[j].Since = now.Add(-f.After)
		}
		start := time.Now()
		if _, err := f.Step(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		if n := labNode(t, s, name); !n.HasTaint(kube.OutOfService.Key, kube.OutOfService.Effect) {
			t.Fatalf("run %d: not tainted", i)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	t.Logf("FIGURE taint pass (verdict -> taint stored), 20 runs: min %v, median %v, p90 %v, max %v",
		lat[0], lat[len(lat)/2], lat[len(lat)*9/10], lat[len(lat)-1])
}
