package supervisor

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/etcd"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/kube"
	"github.com/kuma-agent/kuma-agent/internal/plan"
	"github.com/kuma-agent/kuma-agent/internal/testlab/etcdlab"
	"github.com/kuma-agent/kuma-agent/internal/testlab/kubelab"
)

// labCleanup is a real 3-member etcd (c1, c2, c3) read by c1's
// supervisor as the daemon reads it (plan.EtcdAccess with the k0s PKI
// paths under a test root), removals recorded.
type labCleanup struct {
	lab     *etcdlab.Cluster
	access  plan.EtcdAccess
	mu      sync.Mutex
	removed []uint64
}

func (l *labCleanup) Survey(ctx context.Context) (etcd.Survey, error) { return l.access.Survey(ctx) }

func (l *labCleanup) RemoveMember(ctx context.Context, id uint64) error {
	l.mu.Lock()
	l.removed = append(l.removed, id)
	l.mu.Unlock()
	return l.access.RemoveMember(ctx, id)
}

func startLabCleanup(t *testing.T) *labCleanup {
	t.Helper()
	lab := etcdlab.Start(t, etcdlab.Options{Members: 3, Names: []string{"c1", "c2", "c3"}})
	cfg := config.Default()
	cfg.Checks.Etcd.Endpoint = lab.Members[0].ClientURL
	f := lab.LayoutPKI(etcdlab.K0s)
	cfg.Checks.Etcd.CAFile, cfg.Checks.Etcd.CertFile, cfg.Checks.Etcd.KeyFile = f.CAFile, f.CertFile, f.KeyFile
	return &labCleanup{lab: lab, access: plan.EtcdAccessFor(cfg, cluster.LayoutK0s)}
}

func (l *labCleanup) memberNames(t *testing.T) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := l.access.Survey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range s.Members {
		out = append(out, m.Name)
	}
	slices.Sort(out)
	return out
}

// A stopped agent on a healthy controller, failed in the mesh for a day:
// etcd says its member is healthy, nothing is removed.
func TestLabCleanupStoppedAgentRemovesNothing(t *testing.T) {
	l := startLabCleanup(t)
	c := newCleanupCase(t, l, 24*time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c.rounds(ctx, 3, time.Hour)
	if len(l.removed) != 0 || c.h.ev.count(events.HealingStarted) != 0 {
		t.Fatalf("removed %v", l.removed)
	}
	if got := l.memberNames(t); len(got) != 3 {
		t.Fatalf("members %v", got)
	}
}

// A killed controller (its agent failed and its member down) past After
// is removed by its ID through etcd's API; etcd keeps quorum (3 -> 2).
func TestLabCleanupRemovesAKilledMemberByID(t *testing.T) {
	l := startLabCleanup(t)
	c := newCleanupCase(t, l, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	before, err := l.access.Survey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c3, _ := before.Member("c3")
	l.lab.Kill(l.lab.Members[2])
	c.rounds(ctx, 1, 31*time.Minute) // etcd's verdict starts now
	if len(l.removed) != 0 {
		t.Fatal("removed on etcd's first reading")
	}
	c.rounds(ctx, 1, 0)
	if len(l.removed) != 1 || l.removed[0] != uint64(c3.ID) {
		t.Fatalf("removed %v, want c3's ID %x", l.removed, uint64(c3.ID))
	}
	if got := l.memberNames(t); strings.Join(got, ",") != "c1,c2" {
		t.Fatalf("members after the removal: %v", got)
	}
	after, err := l.access.Survey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if q := after.Quorum(); !q.HasQuorum || q.Members != 2 || q.Healthy != 2 {
		t.Fatalf("quorum after the removal: %+v", q)
	}
}

// Two members killed: the mesh's guard passes (c2's agent says its units
// run) but etcd has no quorum, and the removal is refused.
func TestLabCleanupRefusesWithoutQuorum(t *testing.T) {
	l := startLabCleanup(t)
	c := newCleanupCase(t, l, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l.lab.Kill(l.lab.Members[2])
	l.lab.Kill(l.lab.Members[1])
	c.rounds(ctx, 2, 31*time.Minute)
	if len(l.removed) != 0 {
		t.Fatalf("removed %v without etcd's quorum", l.removed)
	}
	if d, ok := c.h.ev.last(events.HealingRefused); !ok || !strings.Contains(d.Reason, "needs etcd's quorum") {
		t.Fatalf("refusal %+v", d)
	}
}

// Acura: a killed controller past After is removed from etcd by its ID
// and its Kubernetes Node deleted, on a real kube-apiserver (storing into
// the same etcd) through the kubeadm layout's admin kubeconfig; the live
// controllers' Nodes stay.
func TestLabCleanupAcuraDeletesTheNode(t *testing.T) {
	l := startLabCleanup(t)
	api := kubelab.Start(t, kubelab.Options{Etcd: l.lab})
	for _, n := range []string{"c1", "c2", "c3"} {
		api.CreateNode(t, n, "True")
	}
	kc := api.Client(t, kubelab.Kubeadm)
	c := newCleanupCase(t, l, time.Hour)
	c.o.DeleteNode = kc
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l.lab.Kill(l.lab.Members[2])
	c.rounds(ctx, 2, 31*time.Minute)
	if got := l.memberNames(t); strings.Join(got, ",") != "c1,c2" {
		t.Fatalf("members after the removal: %v", got)
	}
	if _, err := kc.Node(ctx, "c3"); !kube.IsNotFound(err) {
		t.Fatalf("node c3 after the removal: %v, want not found", err)
	}
	for _, n := range []string{"c1", "c2"} {
		if _, err := kc.Node(ctx, n); err != nil {
			t.Fatalf("live node %s: %v", n, err)
		}
	}
	if d, ok := c.h.ev.last(events.HealingFinished); !ok || !strings.Contains(d.Result, "Kubernetes Node deleted") {
		t.Fatalf("finished event %+v", d)
	}
}
