package plan

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/inventory"
)

var fixtures = filepath.Join("..", "inventory", "testdata", "inventories")

func load(t *testing.T, name string) (*cluster.Cluster, string) {
	t.Helper()
	p := filepath.Join(fixtures, name)
	c, err := inventory.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return c, p
}

func names(cs []checks.Check) []string {
	var n []string
	for _, c := range cs {
		n = append(n, c.Name())
	}
	return n
}

func noCommands() checks.Commander {
	return checks.CommanderFunc(func(context.Context, string, ...string) ([]byte, error) {
		return nil, errors.New("no commands in this test")
	})
}

func TestBuildFollowsRoles(t *testing.T) {
	c, p := load(t, "k0s-prod-3cp-3w.inventory.yml")
	cfg := config.Default()
	cfg.PluginDir = filepath.Join(t.TempDir(), "none")
	for _, tc := range []struct {
		node      string
		want, not []string
	}{
		{"kuma-lb.example.com", []string{"inventory", "ntp", "machine-id", "hostname", "hosts", "disk", "ports", "lb"}, nil},
		{"kuma-cp1.example.com", []string{"ports"}, []string{"lb"}},
		{"kuma-w1.example.com", []string{"ports"}, []string{"lb"}},
	} {
		cfg.NodeName = tc.node
		n, err := ResolveNode(context.Background(), cfg, c, noCommands())
		if err != nil || n.Self == nil || n.RolesFrom != "inventory" {
			t.Fatalf("%s: %+v %v", tc.node, n, err)
		}
		got := names(Build(cfg, p, c, nil, n, Selection{}, noCommands()).Checks)
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("%s: no %s check in %v", tc.node, w, got)
			}
		}
		for _, w := range tc.not {
			if slices.Contains(got, w) {
				t.Errorf("%s: unexpected %s check", tc.node, w)
			}
		}
	}
}

func TestBuildPortsFromMatrix(t *testing.T) {
	c, p := load(t, "k0s-prod-3cp-3w.inventory.yml")
	cfg := config.Default()
	cfg.NodeName = "kuma-cp2.example.com"
	cfg.PluginDir = filepath.Join(t.TempDir(), "none")
	n, _ := ResolveNode(context.Background(), cfg, c, noCommands())
	var ports *checks.Ports
	var reach *checks.Reach
	for _, ch := range Build(cfg, p, c, nil, n, Selection{Only: []string{"ports", "reach"}}, noCommands()).Checks {
		switch v := ch.(type) {
		case *checks.Ports:
			ports = v
		case *checks.Reach:
			reach = v
		}
	}
	if ports == nil || reach == nil {
		t.Fatal("no ports or reach check")
	}
	if ports.Addr.String() != "127.0.20.11" || len(ports.Listen) != 4 || len(ports.Targets) != 0 {
		t.Errorf("ports: addr %v listen %v targets %d", ports.Addr, ports.Listen, len(ports.Targets))
	}
	if len(reach.Listen) != 0 {
		t.Errorf("reach listens: %v", reach.Listen)
	}
	peers := map[string]bool{}
	for _, tg := range reach.Targets {
		peers[tg.Host.Name] = true
	}
	// controller -> lb, other controllers, workers; never itself, never storage.
	for _, h := range []string{"kuma-lb.example.com", "kuma-cp1.example.com", "kuma-cp3.example.com", "kuma-w1.example.com"} {
		if !peers[h] {
			t.Errorf("no target on %s", h)
		}
	}
	if peers["kuma-cp2.example.com"] || peers["kuma-storage-1.example.com"] {
		t.Errorf("wrong targets: %v", peers)
	}
}

func TestResolveNodeFromHostnameAndConfigRoles(t *testing.T) {
	c, _ := load(t, "acura-ha_env_file")
	cmd := checks.CommanderFunc(func(_ context.Context, name string, args ...string) ([]byte, error) {
		if name != "hostname" || len(args) != 1 || args[0] != "-f" {
			return nil, errors.New("unexpected command")
		}
		return []byte("acura-node-2\n"), nil
	})
	n, err := ResolveNode(context.Background(), config.Default(), c, cmd)
	if err != nil || n.Name != "acura-node-2" || !n.Roles.Has(cluster.RoleAcuraNode) {
		t.Fatalf("%+v %v", n, err)
	}
	cfg := config.Default()
	cfg.Roles = []cluster.Role{cluster.RoleLB}
	n, _ = ResolveNode(context.Background(), cfg, c, cmd)
	if n.RolesFrom != "config" || !slices.Equal(n.Roles, cluster.Roles{cluster.RoleLB}) {
		t.Fatalf("config roles: %+v", n)
	}
}

func TestInventoryCheckStates(t *testing.T) {
	c, p := load(t, "invalid/raft-even-cores.inventory.yml")
	node := Node{Name: "kuma-core-1.example.com", Self: c.Host("kuma-core-1.example.com")}
	r := inventoryCheck{path: p, cluster: c, node: node}.Run(context.Background())
	if r.Status != checks.Crit || !strings.Contains(strings.Join(r.Details, "\n"), "odd") {
		t.Errorf("even cores: %v %q %v", r.Status, r.Message, r.Details)
	}
	r = inventoryCheck{path: "/etc/kuma-agent/inventory.yml"}.Run(context.Background())
	if r.Status != checks.Warn || !strings.Contains(r.Remedy, "--inventory") {
		t.Errorf("no inventory: %+v", r)
	}
	r = inventoryCheck{path: p, loadErr: errors.New("x.yml:3: bad")}.Run(context.Background())
	if r.Status != checks.Crit || !strings.Contains(r.Message, "x.yml:3") {
		t.Errorf("load error: %+v", r)
	}
	c2, p2 := load(t, "k0s-prod-3cp-3w.inventory.yml")
	r = inventoryCheck{path: p2, cluster: c2, node: Node{Name: "KUMA-W1.example.com"}}.Run(context.Background())
	if r.Status != checks.Crit || !strings.Contains(r.Message, "case differs") {
		t.Errorf("case: %+v", r)
	}
}

func TestSelection(t *testing.T) {
	if err := (Selection{Only: []string{"ntp", "plugin:x"}, Skip: []string{"plugins"}}).Validate(); err != nil {
		t.Error(err)
	}
	if err := (Selection{Skip: []string{"ntpp"}}).Validate(); err == nil || !strings.Contains(err.Error(), "ntpp") {
		t.Errorf("typo accepted: %v", err)
	}
	s := Selection{Skip: []string{"plugins"}}
	if s.wants("plugin:foo") || !s.wants("ntp") {
		t.Error("plugins skip")
	}
	if (Selection{Only: []string{"ntp"}}).wants("disk") {
		t.Error("only")
	}
}

// On a controller whose plan has the etcd check, etcd's ports are the
// etcd check's (it asks etcd): the ports check does not require them, so
// a stopped member is an etcd finding, not also a ports finding. Without
// the etcd check (disabled, or not selected) the ports check keeps them.
func TestEtcdPortsAreTheEtcdChecks(t *testing.T) {
	c, p := load(t, "k0s-prod-3cp-3w.inventory.yml")
	cfg := config.Default()
	cfg.NodeName = "kuma-cp2.example.com"
	cfg.PluginDir = filepath.Join(t.TempDir(), "none")
	n, _ := ResolveNode(context.Background(), cfg, c, noCommands())
	listen := func(cfg config.Config, sel Selection) []string {
		var out []string
		for _, ch := range Build(cfg, p, c, nil, n, sel, noCommands()).Checks {
			if v, ok := ch.(*checks.Ports); ok {
				for _, port := range v.Listen {
					out = append(out, port.Name)
				}
			}
		}
		return out
	}
	if got := listen(cfg, Selection{}); slices.Contains(got, "etcd-peer") || !slices.Contains(got, "kube-apiserver") {
		t.Errorf("with the etcd check: ports listens on %v", got)
	}
	if got := listen(cfg, Selection{Only: []string{"ports"}}); !slices.Contains(got, "etcd-peer") {
		t.Errorf("ports alone: %v", got)
	}
	// The peers' etcd-peer port: probed (the firewall path), a refusal
	// no missing listener while the etcd check judges etcd.
	peerEtcdListens := func(cfg config.Config) (probed, listens bool) {
		for _, ch := range Build(cfg, p, c, nil, n, Selection{}, noCommands()).Checks {
			if v, ok := ch.(*checks.Reach); ok {
				for _, tg := range v.Targets {
					if tg.Port.Name == "etcd-peer" && tg.Host.Name == "kuma-cp1.example.com" {
						probed, listens = true, listens || tg.Listens
					}
				}
			}
		}
		return probed, listens
	}
	if probed, listens := peerEtcdListens(cfg); !probed || listens {
		t.Errorf("with the etcd check: peer etcd-peer probed %v, must listen %v", probed, listens)
	}
	cfg.Checks.Disabled = []string{"etcd"}
	if got := listen(cfg, Selection{}); !slices.Contains(got, "etcd-peer") {
		t.Errorf("etcd disabled: %v", got)
	}
	if probed, listens := peerEtcdListens(cfg); !probed || !listens {
		t.Errorf("etcd disabled: peer etcd-peer probed %v, must listen %v", probed, listens)
	}
}
