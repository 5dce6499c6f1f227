package supervisor

import (
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// What keeps an Acura node alive is supervised there, in the etcd group (the quorum
// guard applies: those nodes hold the stacked etcd), and nowhere else.
func TestAcuraNodeSupervisesKubeletAndContainerd(t *testing.T) {
	acura := Select(DefaultRules, cluster.Roles{cluster.RoleAcuraNode}, cluster.LayoutAcura)
	for _, unit := range []string{"kubelet.service", "containerd.service"} {
		g, ok := acura.Match(unit)
		if !ok || g != GroupEtcd {
			t.Errorf("Acura node: %s supervised %v in group %q, want true in %q", unit, ok, g, GroupEtcd)
		}
		if r := Remedy("acura-1", unit); !strings.Contains(r, "journalctl -u "+strings.TrimSuffix(unit, ".service")) {
			t.Errorf("%s remedy does not name its journal: %q", unit, r)
		}
	}
	lb := Select(DefaultRules, cluster.Roles{cluster.RoleLB}, cluster.LayoutAcura)
	worker := Select(DefaultRules, cluster.Roles{cluster.RoleWorker}, cluster.LayoutK0s)
	for _, s := range []Selection{lb, worker} {
		for _, unit := range []string{"kubelet.service", "containerd.service"} {
			if _, ok := s.Match(unit); ok {
				t.Errorf("%s supervised on a node that is not an Acura node (%v)", unit, s.Patterns())
			}
		}
	}
}
