package supervisor

import (
	"context"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/events"
)

func TestK0sWorkerThatDoesNotRecoverGetsAFindingWithItsRecovery(t *testing.T) {
	be := newFakeBackend(failedUnit("k0sworker.service", "exit-code"))
	be.startResult["k0sworker.service"] = "failed"
	h := start(t, be, func(o *Options) {
		o.Node = "worker-2.kuma.local"
		o.Selection = Select(DefaultRules, cluster.Roles{cluster.RoleWorker}, cluster.LayoutK0s)
	})
	eventually(t, "gave up", func() bool { return h.ev.count(events.HealingRefused) == 1 })
	r := h.sup.Check().Run(context.Background())
	if r.Status != checks.Crit {
		t.Fatalf("status %s, want crit", r.Status)
	}
	for _, want := range []string{"On worker-2.kuma.local", "k0s token create --role worker", "k0s install worker --token-file token", "journalctl -u k0sworker"} {
		if !strings.Contains(r.Remedy, want) {
			t.Errorf("remedy lacks %q:\n%s", want, r.Remedy)
		}
	}
	if !strings.Contains(strings.Join(r.Details, "\n"), "gave up after 4 attempts") {
		t.Errorf("details %v", r.Details)
	}
}

func TestUnitsCheckStates(t *testing.T) {
	stopped := UnitState{Name: "kuma-collector-1.service", LoadState: "loaded", ActiveState: "inactive", SubState: "dead"}
	h := start(t, newFakeBackend(stopped), nil)
	eventually(t, "seen", func() bool { return len(h.sup.Units()) == 1 })
	r := h.sup.Check().Run(context.Background())
	if r.Status != checks.OK || !strings.Contains(r.Details[0], "left alone") {
		t.Fatalf("operator-stopped unit: %+v", r)
	}
	h.be.updates <- Update{State: UnitState{Name: "kuma-collector-1.service"}, Err: context.DeadlineExceeded}
	eventually(t, "unknown", func() bool { return h.sup.Check().Run(context.Background()).Status == checks.Unknown })
	// A controller remedy names etcd membership steps for that node.
	if rem := Remedy("ctl-1", "k0scontroller.service"); !strings.Contains(rem, "k0s etcd leave --peer-address") || !strings.Contains(rem, "--role controller") {
		t.Errorf("controller remedy: %s", rem)
	}
}

// noBus is a backend whose bus cannot be reached (no systemd).
type noBus struct{ *fakeBackend }

func (noBus) Watch(context.Context, func(string) bool) (<-chan Update, error) {
	return nil, context.DeadlineExceeded
}

func TestUnitsCheckWithoutABusIsUnknown(t *testing.T) {
	s, err := New(Options{Node: "n", Backend: noBus{newFakeBackend()}, Policy: testPolicy(), Peers: func() []Peer { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err == nil {
		t.Fatal("Run without a bus: want an error")
	}
	r := s.Check().Run(context.Background())
	if r.Status != checks.Unknown || !strings.Contains(r.Message, "cannot watch the units") || !strings.Contains(r.Remedy, "supervisor.enabled: false") {
		t.Fatalf("%+v", r)
	}
}
