package kubechecks

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/kube"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func node(name, ready string) kube.Node {
	var n kube.Node
	n.Metadata.Name = name
	n.Status.Conditions = []kube.Condition{{Type: "Ready", Status: ready, LastTransitionTime: t0.Add(-90 * time.Second)}}
	return n
}

func pod(ns, name, nodeName, phase string) kube.Pod {
	var p kube.Pod
	p.Metadata = kube.Meta{Name: name, Namespace: ns}
	p.Spec.NodeName = nodeName
	p.Status.Phase = phase
	p.Status.Conditions = []kube.Condition{{Type: "Ready", Status: map[bool]string{true: "True", false: "False"}[phase == "Running"], LastTransitionTime: t0.Add(-5 * time.Minute)}}
	return p
}

func volume(name, state, robustness string, replicas int) kube.LonghornVolume {
	var v kube.LonghornVolume
	v.Metadata.Name = name
	v.Spec.NumberOfReplicas = replicas
	v.Status.State, v.Status.Robustness, v.Status.CurrentNodeID = state, robustness, "w1"
	return v
}

func healthyK0s() Facts {
	var ln kube.LonghornNode
	ln.Metadata.Name = "w1"
	ln.Status.Conditions = []kube.Condition{{Type: "Ready", Status: "True"}, {Type: "Schedulable", Status: "True"}}
	return Facts{Layout: cluster.LayoutK0s, Now: t0, Core: DefaultCoreSelector, Source: "admin.conf",
		Nodes:    []kube.Node{node("w1", "True"), node("w2", "True")},
		CorePods: []kube.Pod{pod("kuma", "core-deployment-abc", "w1", "Running")},
		Volumes:  []kube.LonghornVolume{volume("pvc-core", "attached", "healthy", 3)},
		LHNodes:  []kube.LonghornNode{ln}}
}

func find(t *testing.T, rs []clusterchecks.NamedResult, name string) clusterchecks.NamedResult {
	t.Helper()
	for _, r := range rs {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no %s in %+v", name, rs)
	return clusterchecks.NamedResult{}
}

func TestHealthyK0sAllOK(t *testing.T) {
	rs := All(healthyK0s())
	if len(rs) != 4 {
		t.Fatalf("k0s checks: %+v", rs)
	}
	for _, r := range rs {
		if r.Result.Status != checks.OK {
			t.Errorf("%s: %v %s", r.Name, r.Result.Status, r.Result.Message)
		}
	}
}

func TestDeadWorkerFindings(t *testing.T) {
	f := healthyK0s()
	f.Nodes[0] = node("w1", "Unknown")
	f.Volumes = append(f.Volumes, volume("pvc-a", "attached", "degraded", 3), volume("pvc-b", "detached", "faulted", 1))
	f.LHNodes[0].Status.Conditions[0].Status = "False"
	f.LHNodes[0].Status.DiskStatus = map[string]struct {
		Conditions []kube.Condition `json:"conditions"`
	}{"disk-1": {Conditions: []kube.Condition{{Type: "Schedulable", Status: "False", Reason: "DiskPressure"}}}}
	rs := All(f)
	n := find(t, rs, NodesCheckName)
	if n.Result.Status != checks.Crit || !strings.Contains(n.Result.Message, "w1") || n.Nodes[0] != "w1" ||
		!strings.Contains(n.Result.Details[0], "Ready=Unknown for 1m30s") || !strings.Contains(n.Result.Remedy, "k0s kubectl") {
		t.Errorf("nodes: %+v", n)
	}
	c := find(t, rs, CorePodCheckName)
	if c.Result.Status != checks.Crit || !strings.Contains(c.Result.Message, "its node is Ready=Unknown") || !strings.Contains(c.Result.Remedy, "k0s kubectl get pod -n kuma -o wide") {
		t.Errorf("core: %+v", c)
	}
	v := find(t, rs, LonghornVolumesCheckName)
	if v.Result.Status != checks.Crit || !strings.Contains(v.Result.Message, "2 of 3") || !strings.Contains(strings.Join(v.Result.Details, "\n"), "1 replica") ||
		!strings.Contains(v.Result.Remedy, "k0s kubectl -n longhorn-system get volumes.longhorn.io") {
		t.Errorf("volumes: %+v", v)
	}
	l := find(t, rs, LonghornNodesCheckName)
	if l.Result.Status != checks.Crit || !strings.Contains(l.Result.Details[0], "disk disk-1 Schedulable=False (DiskPressure)") {
		t.Errorf("longhorn nodes: %+v", l)
	}
}

func TestCorePodNotRunning(t *testing.T) {
	f := healthyK0s()
	f.CorePods = []kube.Pod{pod("kuma", "core-deployment-x", "w2", "Pending")}
	c := find(t, All(f), CorePodCheckName)
	if c.Result.Status != checks.Crit || !strings.Contains(c.Result.Message, "not Running for 5m0s") {
		t.Fatalf("core: %+v", c)
	}
	f.CorePods = nil
	c = find(t, All(f), CorePodCheckName)
	if c.Result.Status != checks.Crit || !strings.Contains(c.Result.Message, "no KUMA Core pod in namespace kuma") {
		t.Fatalf("no core: %+v", c)
	}
}

func TestAcuraPods(t *testing.T) {
	f := Facts{Layout: cluster.LayoutAcura, Now: t0, Nodes: []kube.Node{node("a1", "True")},
		Pods: []kube.Pod{pod("acura", "api-1", "a1", "Running"), pod("acura", "job-1", "a1", "Succeeded"), pod("acura", "db-0", "a1", "Failed"), pod("acura", "web-0", "", "Pending")}}
	rs := All(f)
	if len(rs) != 2 {
		t.Fatalf("acura checks: %+v", rs)
	}
	p := find(t, rs, PodsCheckName)
	if p.Result.Status != checks.Crit || !strings.Contains(p.Result.Message, "2 of 4") || len(p.Result.Details) != 2 || !strings.Contains(p.Result.Remedy, "kubectl --kubeconfig /etc/kubernetes/admin.conf get pods -A") {
		t.Fatalf("pods: %+v", p)
	}
}

func TestUnreadableIsUnknown(t *testing.T) {
	f := healthyK0s()
	f.VolumesErr = errors.New("404 the server could not find the requested resource")
	if v := find(t, All(f), LonghornVolumesCheckName); v.Result.Status != checks.Unknown || !strings.Contains(v.Result.Message, "404") {
		t.Fatalf("volumes: %+v", v)
	}
	f = Facts{Layout: cluster.LayoutK0s, Err: errors.New("open /var/lib/k0s/pki/admin.conf: no such file")}
	for _, r := range All(f) {
		if r.Result.Status != checks.Unknown || !strings.Contains(r.Result.Remedy, "kubernetes.kubeconfig") {
			t.Fatalf("%s: %+v", r.Name, r.Result)
		}
	}
	if len(All(Facts{Layout: cluster.LayoutDistributed})) != 0 {
		t.Fatal("checks for a layout without Kubernetes")
	}
}

type fakeReader struct{ pods []kube.Pod }

func (fakeReader) Nodes(context.Context, kube.ListOptions) ([]kube.Node, error) { return nil, nil }
func (r fakeReader) Pods(_ context.Context, ns string, _ kube.ListOptions) ([]kube.Pod, error) {
	return r.pods, nil
}
func (fakeReader) LonghornVolumes(context.Context) ([]kube.LonghornVolume, error) { return nil, nil }
func (fakeReader) LonghornNodes(context.Context) ([]kube.LonghornNode, error)     { return nil, nil }

func TestCoreSelectorPrefix(t *testing.T) {
	r := fakeReader{pods: []kube.Pod{pod("kuma", "core-deployment-1", "w1", "Running"), pod("kuma", "other", "w1", "Running")}}
	got, err := DefaultCoreSelector.CorePods(context.Background(), r)
	if err != nil || len(got) != 1 || got[0].Metadata.Name != "core-deployment-1" {
		t.Fatalf("got %+v %v", got, err)
	}
}
