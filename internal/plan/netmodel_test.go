package plan

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/testlab/fakeproc"
)

func findCheck[T checks.Check](cs []checks.Check) (T, bool) {
	for _, c := range cs {
		if v, ok := c.(T); ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// Issue 14: a dedicated k0s controller (no --enable-worker) runs no
// kubelet. Its ports check must pass with the controller's own sockets,
// so the quorum check counts it healthy.
func TestDedicatedControllerNeedsNoKubelet(t *testing.T) {
	c, p := load(t, "k0s-prod-3cp-3w.inventory.yml")
	cfg := config.Default()
	cfg.NodeName = "kuma-cp2.example.com"
	cfg.PluginDir = filepath.Join(t.TempDir(), "none")
	cfg.Paths.ProcDir = fakeproc.Listeners(t, cluster.PortAPIServer, cluster.PortKonnect, cluster.PortK0sJoin, cluster.PortEtcdPeer)
	n, err := ResolveNode(context.Background(), cfg, c, noCommands())
	if err != nil || !n.Roles.Has(cluster.RoleController) || n.Roles.Has(cluster.RoleControllerWorker) {
		t.Fatalf("%+v %v", n, err)
	}
	ports, ok := findCheck[*checks.Ports](Build(cfg, p, c, nil, n, Selection{Only: []string{"ports"}}, noCommands()).Checks)
	if !ok {
		t.Fatal("no ports check")
	}
	r := ports.Run(context.Background())
	if r.Status != checks.OK || strings.Contains(strings.Join(append(r.Details, r.Message), "\n"), "10250") {
		t.Fatalf("dedicated controller: %v %q %q", r.Status, r.Message, r.Details)
	}

	// The quorum check reads the ports check through the gossip tags.
	var members []clusterchecks.Member
	for _, h := range c.Hosts {
		m := clusterchecks.Member{Name: h.Name, Addr: h.Address, Status: clusterchecks.StatusAlive,
			Tags: clusterchecks.Tags{Roles: h.Roles}}
		if h.Name == n.Name && r.Status != checks.OK {
			m.Tags.Health.Failing = []string{clusterchecks.PortsCheckName}
		}
		members = append(members, m)
	}
	q := clusterchecks.QuorumCheck(clusterchecks.View{Inventory: c, Members: members})
	if q.Status != checks.OK || !strings.Contains(q.Message, "3 etcd members, 3 healthy") {
		t.Fatalf("quorum: %v %q %q", q.Status, q.Message, q.Details)
	}

	// Without its sockets the same controller is critical, and the
	// missing ports are the controller's, still not the kubelet.
	cfg.Paths.ProcDir = fakeproc.Listeners(t, cluster.PortAPIServer)
	ports, _ = findCheck[*checks.Ports](Build(cfg, p, c, nil, n, Selection{Only: []string{"ports"}}, noCommands()).Checks)
	r = ports.Run(context.Background())
	if r.Status != checks.Crit || !strings.Contains(r.Message, "8132/tcp, 9443/tcp, 2380/tcp") || strings.Contains(r.Message, "10250") {
		t.Fatalf("controller without its sockets: %v %q", r.Status, r.Message)
	}
	if !slices.ContainsFunc(r.Details, func(d string) bool {
		return strings.Contains(d, "6443/tcp") && strings.Contains(d, "listening on 0.0.0.0")
	}) {
		t.Errorf("details %q", r.Details)
	}
}
