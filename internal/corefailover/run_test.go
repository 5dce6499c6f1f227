package corefailover

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/kube"
	"github.com/kuma-agent/kuma-agent/internal/kubechecks"
)

// fakeAPI keeps Nodes and Core pods in memory and applies the writes.
type fakeAPI struct {
	mu       sync.Mutex
	nodes    map[string]kube.Node
	pods     []kube.Pod
	writes   []string
	conflict bool
}

func (f *fakeAPI) Nodes(context.Context, kube.ListOptions) ([]kube.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []kube.Node
	for _, n := range f.nodes {
		out = append(out, n)
	}
	return out, nil
}
func (f *fakeAPI) Pods(context.Context, string, kube.ListOptions) ([]kube.Pod, error) {
	return f.pods, nil
}
func (*fakeAPI) LonghornVolumes(context.Context) ([]kube.LonghornVolume, error) { return nil, nil }
func (*fakeAPI) LonghornNodes(context.Context) ([]kube.LonghornNode, error)     { return nil, nil }
func (f *fakeAPI) Node(_ context.Context, name string) (kube.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nodes[name], nil
}
func (f *fakeAPI) AddTaint(_ context.Context, n kube.Node, t kube.Taint, note string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conflict {
		return &kube.StatusError{Code: http.StatusUnprocessableEntity}
	}
	f.writes = append(f.writes, "add "+n.Metadata.Name)
	n = f.nodes[n.Metadata.Name]
	n.Spec.Taints = append(n.Spec.Taints, t)
	n.Metadata.Annotations = map[string]string{kube.AppliedByAnnotation: note}
	f.nodes[n.Metadata.Name] = n
	return nil
}
func (f *fakeAPI) RemoveTaint(_ context.Context, n kube.Node, t kube.Taint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes = append(f.writes, "remove "+n.Metadata.Name)
	n = f.nodes[n.Metadata.Name]
	n.Spec.Taints, n.Metadata.Annotations = nil, nil
	f.nodes[n.Metadata.Name] = n
	return nil
}

// k0sCluster: three controllers, two workers.
func k0sCluster() *cluster.Cluster {
	c := &cluster.Cluster{Layout: cluster.LayoutK0s}
	for _, h := range []struct {
		name string
		role cluster.Role
	}{{"c1.example.com", cluster.RoleController}, {"c2.example.com", cluster.RoleController}, {"c3.example.com", cluster.RoleController},
		{"w1.example.com", cluster.RoleWorker}, {"w2.example.com", cluster.RoleWorker}} {
		c.Hosts = append(c.Hosts, &cluster.Host{Name: h.name, Roles: cluster.Roles{h.role}})
	}
	return c
}

// failingTo is every node's reachability answer with every path to dead failing.
func failingTo(c *cluster.Cluster, dead string, except int) map[string][]clusterchecks.Edge {
	out := map[string][]clusterchecks.Edge{}
	for _, h := range c.Hosts {
		if h.Name == dead {
			continue
		}
		out[h.Name] = []clusterchecks.Edge{}
		for _, t := range cluster.ReachTargets(c, h, nil) {
			if t.Host.Name != dead || t.Port.Proto != cluster.TCP {
				continue // the agents probe TCP only (checks.Ports.Unreachable)
			}
			if except > 0 {
				except--
				continue
			}
			out[h.Name] = append(out[h.Name], clusterchecks.Edge{From: h.Name, To: dead, Port: t.Port, Reason: "i/o timeout"})
		}
	}
	return out
}

func TestPathsFromTheMatrix(t *testing.T) {
	c := k0sCluster()
	v := clusterchecks.View{Inventory: c, Reach: failingTo(c, "w1.example.com", 0)}
	p := Paths(v, nil)["w1.example.com"]
	if !p.Dead() || len(p.Probers) == 0 {
		t.Fatalf("w1: %+v", p)
	}
	if Paths(v, nil)["w2.example.com"].Dead() {
		t.Fatal("w2 dead")
	}
	// The other worker's answer counts: worker -> worker lists WireGuard's
	// UDP ports, which no agent probes (nor reports failing).
	if !slices.Contains(p.Probers, "w2.example.com") {
		t.Fatalf("w2's probes not counted: %+v", p)
	}
	v.Reach = failingTo(c, "w1.example.com", 1)
	if p := Paths(v, nil)["w1.example.com"]; p.Dead() || p.Failed != p.Probed-1 {
		t.Fatalf("one path open, still dead: %+v", p)
	}
}

type emitted struct {
	t events.Type
	d events.TaintData
}

func newFailover(api API, mode Mode, now *time.Time) (*Failover, *[]emitted) {
	var got []emitted
	f := &Failover{API: api, Mode: mode, After: 20 * time.Second, Core: kubechecks.DefaultCoreSelector, Self: "c1.example.com",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return *now },
		Emit: func(t events.Type, _ string, _ events.Severity, d events.TaintData) { got = append(got, emitted{t, d}) }}
	return f, &got
}

func corePod(node string) kube.Pod {
	var p kube.Pod
	p.Metadata.Name = "core-deployment-1"
	p.Spec.NodeName = node
	p.Status.Phase = "Running"
	return p
}

func round(c *cluster.Cluster, w1 string, since time.Duration, reaches *int) Round {
	v := clusterchecks.View{Inventory: c, Self: "c1.example.com"}
	for _, h := range c.Hosts {
		st := "alive"
		if h.Name == "w1.example.com" {
			st = w1
		}
		v.Members = append(v.Members, member(h.Name, st, since))
	}
	return Round{View: v, Majority: true, Reach: func(context.Context) (map[string][]clusterchecks.Edge, error) {
		*reaches++
		return failingTo(c, "w1.example.com", 0), nil
	}}
}

func TestStepAppliesOnceAndRemoves(t *testing.T) {
	c := k0sCluster()
	api := &fakeAPI{nodes: map[string]kube.Node{"w1": knode("w1", "Unknown"), "w2": knode("w2", "True")}, pods: []kube.Pod{corePod("w1")}}
	now := t0
	f, got := newFailover(api, ModeOn, &now)
	reaches := 0
	ctx := context.Background()
	for range 2 {
		if _, err := f.Step(ctx, round(c, "failed", 25*time.Second, &reaches)); err != nil {
			t.Fatal(err)
		}
	}
	if len(api.writes) != 1 || api.writes[0] != "add w1" || len(*got) != 1 || (*got)[0].t != events.TaintApplied ||
		(*got)[0].d.SinceVerdictMS != 5000 || (*got)[0].d.Member != "w1.example.com" {
		t.Fatalf("writes %v, events %+v", api.writes, *got)
	}
	// Back: Ready and alive.
	n := api.nodes["w1"]
	n.Status.Conditions[0].Status = "True"
	api.nodes["w1"] = n
	before := reaches
	if _, err := f.Step(ctx, round(c, "alive", time.Second, &reaches)); err != nil {
		t.Fatal(err)
	}
	if len(api.writes) != 2 || api.writes[1] != "remove w1" || (*got)[1].t != events.TaintRemoved {
		t.Fatalf("writes %v, events %+v", api.writes, *got)
	}
	if reaches != before {
		t.Fatal("the members were queried with no Core worker suspected")
	}
}

func TestStepDryRunOnlyAnnounces(t *testing.T) {
	c := k0sCluster()
	api := &fakeAPI{nodes: map[string]kube.Node{"w1": knode("w1", "False")}, pods: []kube.Pod{corePod("w1")}}
	now := t0
	f, got := newFailover(api, ModeDryRun, &now)
	reaches := 0
	for range 3 {
		if _, err := f.Step(context.Background(), round(c, "failed", time.Minute, &reaches)); err != nil {
			t.Fatal(err)
		}
	}
	if len(api.writes) != 0 || len(*got) != 1 || (*got)[0].t != events.TaintWouldApply || (*got)[0].d.Mode != "dry-run" {
		t.Fatalf("writes %v, events %+v", api.writes, *got)
	}
}

func TestStepMinorityReadsNothing(t *testing.T) {
	c := k0sCluster()
	api := &fakeAPI{nodes: map[string]kube.Node{"w1": knode("w1", "False")}, pods: []kube.Pod{corePod("w1")}}
	now := t0
	f, got := newFailover(api, ModeOn, &now)
	reaches := 0
	r := round(c, "failed", time.Minute, &reaches)
	r.Majority = false
	if acts, err := f.Step(context.Background(), r); err != nil || len(acts) != 0 || len(api.writes) != 0 || len(*got) != 0 || reaches != 0 {
		t.Fatalf("minority acted: %v %v %v %v", acts, err, api.writes, *got)
	}
}

func TestStepConflictRetriedSilently(t *testing.T) {
	c := k0sCluster()
	api := &fakeAPI{nodes: map[string]kube.Node{"w1": knode("w1", "False")}, pods: []kube.Pod{corePod("w1")}, conflict: true}
	now := t0
	f, got := newFailover(api, ModeOn, &now)
	reaches := 0
	if _, err := f.Step(context.Background(), round(c, "failed", time.Minute, &reaches)); err != nil {
		t.Fatal(err)
	}
	if len(*got) != 0 {
		t.Fatalf("events on a conflict: %+v", *got)
	}
	api.conflict = false
	if _, err := f.Step(context.Background(), round(c, "failed", time.Minute, &reaches)); err != nil {
		t.Fatal(err)
	}
	if len(api.writes) != 1 || len(*got) != 1 || (*got)[0].t != events.TaintApplied {
		t.Fatalf("writes %v, events %+v", api.writes, *got)
	}
}

// An evaluator whose lease moved between its decision and the write
// writes nothing and announces nothing; holding it again, it writes. The
// lease is asked right before each PATCH (apply and remove).
func TestStepWritesNothingWithoutTheLease(t *testing.T) {
	c := k0sCluster()
	api := &fakeAPI{nodes: map[string]kube.Node{"w1": knode("w1", "False")}, pods: []kube.Pod{corePod("w1")}}
	now := t0
	f, got := newFailover(api, ModeOn, &now)
	var asked int
	lost := errors.New("lease \"cluster-evaluator\": revision 7 moved: lease lost")
	holdErr := lost
	f.Holding = func(context.Context) error {
		asked++
		return holdErr
	}
	reaches := 0
	ctx := context.Background()
	if _, err := f.Step(ctx, round(c, "failed", time.Minute, &reaches)); err != nil {
		t.Fatal(err)
	}
	if asked != 1 || len(api.writes) != 0 || len(*got) != 0 {
		t.Fatalf("without the lease: asked %d, writes %v, events %+v", asked, api.writes, *got)
	}
	holdErr = nil
	if _, err := f.Step(ctx, round(c, "failed", time.Minute, &reaches)); err != nil {
		t.Fatal(err)
	}
	if asked != 2 || len(api.writes) != 1 || len(*got) != 1 || (*got)[0].t != events.TaintApplied {
		t.Fatalf("with the lease: asked %d, writes %v, events %+v", asked, api.writes, *got)
	}
	n := api.nodes["w1"]
	n.Status.Conditions[0].Status = "True"
	api.nodes["w1"] = n
	holdErr = lost
	if _, err := f.Step(ctx, round(c, "alive", time.Second, &reaches)); err != nil {
		t.Fatal(err)
	}
	if asked != 3 || len(api.writes) != 1 || len(*got) != 1 {
		t.Fatalf("removal without the lease: asked %d, writes %v, events %+v", asked, api.writes, *got)
	}
}
