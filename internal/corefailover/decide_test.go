package corefailover

import (
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/kube"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func knode(name, ready string, taints ...kube.Taint) kube.Node {
	var n kube.Node
	n.Metadata = kube.Meta{Name: name, ResourceVersion: "1"}
	n.Status.Conditions = []kube.Condition{{Type: "Ready", Status: ready}}
	n.Spec.Taints = taints
	return n
}

func ours(n kube.Node) kube.Node {
	n.Spec.Taints = append(n.Spec.Taints, kube.OutOfService)
	n.Metadata.Annotations = map[string]string{kube.AppliedByAnnotation: "x"}
	return n
}

func member(name, status string, since time.Duration) clusterchecks.Member {
	return clusterchecks.Member{Name: name, Status: status, Since: t0.Add(-since)}
}

var dead = PathVerdict{Probed: 4, Failed: 4, Probers: []string{"c1", "c2"}}

// base: worker w1 runs the Core and is dead by all three verdicts.
func base() Input {
	return Input{Now: t0, Mode: ModeOn, After: 20 * time.Second, Majority: true,
		Members: []clusterchecks.Member{member("c1.example.com", "alive", time.Hour), member("w1.example.com", "failed", 25*time.Second),
			member("w2.example.com", "alive", time.Hour)},
		Unreachable: map[string]PathVerdict{"w1.example.com": dead},
		Nodes:       []kube.Node{knode("w1", "Unknown"), knode("w2", "True")},
		CoreNodes:   []string{"w1"}}
}

func TestDeadWorkerTaintedInOneEvaluation(t *testing.T) {
	acts := Decide(base())
	if len(acts) != 1 || acts[0].Kind != Apply || acts[0].Node != "w1" || acts[0].Member != "w1.example.com" || len(acts[0].Evidence) != 3 {
		t.Fatalf("actions: %+v", acts)
	}
}

func TestEachVerdictIsNeeded(t *testing.T) {
	for name, mut := range map[string]func(*Input){
		"mesh failed too briefly": func(in *Input) { in.Members[1] = member("w1.example.com", "failed", 5*time.Second) },
		"alive in the mesh":       func(in *Input) { in.Members[1] = member("w1.example.com", "alive", time.Hour) },
		"Ready in Kubernetes":     func(in *Input) { in.Nodes[0] = knode("w1", "True") },
		"no Ready condition":      func(in *Input) { in.Nodes[0] = knode("w1", "") },
		"one path open":           func(in *Input) { in.Unreachable["w1.example.com"] = PathVerdict{Probed: 4, Failed: 3} },
		"no path probed":          func(in *Input) { delete(in.Unreachable, "w1.example.com") },
		"not the Core's worker":   func(in *Input) { in.CoreNodes = []string{"w2"} },
		"no agent vouched for it": func(in *Input) { in.Members = in.Members[:1] },
		"minority":                func(in *Input) { in.Majority = false },
		"off":                     func(in *Input) { in.Mode = ModeOff },
	} {
		in := base()
		mut(&in)
		if acts := Decide(in); len(acts) != 0 {
			t.Errorf("%s: actions %+v, want none", name, acts)
		}
	}
}

func TestWorkerBackTaintRemoved(t *testing.T) {
	in := base()
	in.Members[1] = member("w1.example.com", "alive", time.Second)
	in.Nodes[0] = ours(knode("w1", "True"))
	acts := Decide(in)
	if len(acts) != 1 || acts[0].Kind != Remove || acts[0].Node != "w1" {
		t.Fatalf("actions: %+v", acts)
	}
	// Back in Kubernetes but not yet in the mesh (or the reverse): kept.
	in.Members[1] = member("w1.example.com", "failed", time.Second)
	if acts := Decide(in); len(acts) != 0 {
		t.Fatalf("removed before the mesh saw it back: %+v", acts)
	}
	// An operator's taint is theirs: never removed.
	in = base()
	in.Members[1] = member("w1.example.com", "alive", time.Second)
	in.Nodes[0] = knode("w1", "True", kube.OutOfService)
	if acts := Decide(in); len(acts) != 0 {
		t.Fatalf("an operator's taint removed: %+v", acts)
	}
}

func TestTwoDeadWorkersOneTaintAtATime(t *testing.T) {
	in := base()
	in.Members[2] = member("w2.example.com", "failed", time.Minute)
	in.Nodes[1] = knode("w2", "False")
	in.Unreachable["w2.example.com"] = dead
	in.CoreNodes = []string{"w2", "w1"}
	acts := Decide(in)
	if len(acts) != 2 || acts[0].Kind != Apply || acts[0].Node != "w1" || acts[1].Kind != Hold || acts[1].Node != "w2" {
		t.Fatalf("actions: %+v", acts)
	}
	// w1 tainted (and still down): w2 is held until w1's taint goes.
	in.Nodes[0] = ours(in.Nodes[0])
	acts = Decide(in)
	if len(acts) != 1 || acts[0].Kind != Hold || acts[0].Node != "w2" {
		t.Fatalf("actions: %+v", acts)
	}
	// w1 back: its taint goes, and in the same pass w2's may be applied.
	in.Members[1] = member("w1.example.com", "alive", time.Second)
	in.Nodes[0].Status.Conditions[0].Status = "True"
	acts = Decide(in)
	if len(acts) != 2 || acts[0].Kind != Remove || acts[1].Kind != Apply || acts[1].Node != "w2" {
		t.Fatalf("actions: %+v", acts)
	}
}

func TestSuspectsNeedMeshAndKubernetes(t *testing.T) {
	in := base()
	in.Unreachable = nil
	if s := Suspects(in); len(s) != 1 || s[0] != "w1" {
		t.Fatalf("suspects: %v", s)
	}
	in.Nodes[0] = knode("w1", "True")
	if s := Suspects(in); len(s) != 0 {
		t.Fatalf("suspects: %v", s)
	}
}

func TestMemberOfShortName(t *testing.T) {
	ms := map[string]clusterchecks.Member{"w1.example.com": {Name: "w1.example.com"}, "w2.a.com": {Name: "w2.a.com"}, "w2.b.com": {Name: "w2.b.com"}}
	if m, ok := memberOf("W1", ms); !ok || m.Name != "w1.example.com" {
		t.Fatalf("w1: %v %v", m, ok)
	}
	if _, ok := memberOf("w2", ms); ok {
		t.Fatal("an ambiguous short name matched")
	}
}
