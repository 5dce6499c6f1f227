package kube_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/kube"
	"github.com/kuma-agent/kuma-agent/internal/testlab/kubelab"
)

// The real API server refuses a patch whose test op fails: a taint added
// from a stale read, or removed after the list moved, overwrites nothing.
func TestTaintTestOpsOnAPIServer(t *testing.T) {
	s := kubelab.Start(t, kubelab.Options{})
	c := s.Client(t, kubelab.Kubeadm)
	ctx := context.Background()
	s.CreateNode(t, "w1", "Unknown")
	stale, err := c.Node(ctx, "w1")
	if err != nil {
		t.Fatal(err)
	}
	// Someone else changes the Node (a kubelet's status, an operator's taint).
	s.MustDo(t, http.MethodPatch, "/api/v1/nodes/w1", []byte(`[{"op":"add","path":"/spec/taints","value":[{"key":"site/a","effect":"NoSchedule"}]}]`))
	if err := c.AddTaint(ctx, stale, kube.OutOfService, "lab"); !kube.IsConflict(err) {
		t.Fatalf("stale add: %v, want a conflict", err)
	}
	fresh, err := c.Node(ctx, "w1")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddTaint(ctx, fresh, kube.OutOfService, "lab"); err != nil {
		t.Fatal(err)
	}
	tainted, err := c.Node(ctx, "w1")
	if err != nil || !tainted.HasTaint(kube.OutOfService.Key, kube.OutOfService.Effect) || !tainted.HasTaint("site/a", "NoSchedule") || tainted.Metadata.Annotations[kube.AppliedByAnnotation] != "lab" {
		t.Fatalf("after add: %+v %v", tainted, err)
	}
	// The operator's taint goes first: our read's index 1 is now out of range.
	s.MustDo(t, http.MethodPatch, "/api/v1/nodes/w1", []byte(`[{"op":"remove","path":"/spec/taints/0"}]`))
	if err := c.RemoveTaint(ctx, tainted, kube.OutOfService); !kube.IsConflict(err) {
		t.Fatalf("stale remove: %v, want a conflict", err)
	}
	fresh, _ = c.Node(ctx, "w1")
	if err := c.RemoveTaint(ctx, fresh, kube.OutOfService); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Node(ctx, "w1"); len(n.Spec.Taints) != 0 || n.Metadata.Annotations[kube.AppliedByAnnotation] != "" {
		t.Fatalf("after remove: %+v", n)
	}
	if err := c.DeleteNode(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Node(ctx, "w1"); !kube.IsNotFound(err) {
		t.Fatalf("deleted node: %v", err)
	}
}

// Pods by field and label selector, and Longhorn's CRs with their status
// set through the status subresource, read back decoded.
func TestReadsOnAPIServer(t *testing.T) {
	s := kubelab.Start(t, kubelab.Options{})
	c := s.Client(t, kubelab.Kubeadm)
	ctx := context.Background()
	s.CreateNode(t, "w1", "True")
	s.CreateNode(t, "w2", "False")
	s.CreateNamespace(t, "kuma")
	s.CreatePod(t, "kuma", "core-deployment-1", "w1", "Running")
	s.CreatePod(t, "kuma", "other", "w2", "Pending")
	s.CreateLonghornCRDs(t)
	s.PutLonghorn(t, "volumes", "pvc-core", `{"numberOfReplicas":3}`, `{"state":"attached","robustness":"degraded","currentNodeID":"w1"}`)
	s.PutLonghorn(t, "nodes", "w1", `{}`, `{"conditions":[{"type":"Ready","status":"True"}],"diskStatus":{"default-disk":{"conditions":[{"type":"Schedulable","status":"False","reason":"DiskPressure"}]}}}`)

	nodes, err := c.Nodes(ctx, kube.ListOptions{})
	if err != nil || len(nodes) != 2 {
		t.Fatalf("nodes: %+v %v", nodes, err)
	}
	pods, err := c.Pods(ctx, "kuma", kube.ListOptions{FieldSelector: "spec.nodeName=w1"})
	if err != nil || len(pods) != 1 || pods[0].Metadata.Name != "core-deployment-1" || pods[0].Status.Phase != "Running" {
		t.Fatalf("pods on w1: %+v %v", pods, err)
	}
	vols, err := c.LonghornVolumes(ctx)
	if err != nil || len(vols) != 1 || vols[0].Status.Robustness != "degraded" || vols[0].Spec.NumberOfReplicas != 3 {
		t.Fatalf("volumes: %+v %v", vols, err)
	}
	lns, err := c.LonghornNodes(ctx)
	if err != nil || len(lns) != 1 || lns[0].Status.DiskStatus["default-disk"].Conditions[0].Reason != "DiskPressure" {
		t.Fatalf("longhorn nodes: %+v %v", lns, err)
	}
}
