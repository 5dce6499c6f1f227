package inventory

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

var fixtureDir = filepath.Join("testdata", "inventories")

// fixtureFiles lists every inventory fixture (valid and invalid).
func fixtureFiles(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, dir := range []string{fixtureDir, filepath.Join(fixtureDir, "invalid")} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatalf("fixtures: %v", err)
		}
		for _, e := range ents {
			// A supplement is read with its ha_env_file, never alone.
			if !e.IsDir() && e.Name() != "README.md" && !strings.HasSuffix(e.Name(), SupplementSuffix) {
				out = append(out, filepath.Join(dir, e.Name()))
			}
		}
	}
	if len(out) < 10 {
		t.Fatalf("found only %d fixtures in %s", len(out), fixtureDir)
	}
	return out
}

// want is a finding expected by code and host ("" = cluster-wide).
type want struct{ code, host string }

func (w want) String() string { return w.code + "@" + w.host }

func TestFixtures(t *testing.T) {
	tests := []struct {
		file   string
		layout cluster.Layout
		hosts  int
		// findings are exactly the warnings and errors expected.
		findings []want
	}{
		// 3 nodes and the balancer from the supplement next to it.
		{"acura-ha_env_file", cluster.LayoutAcura, 4, nil},
		{"distributed-raft-3core.inventory.yml", cluster.LayoutDistributed, 6, nil},
		{"expand-raft-2peers.inventory.yml", cluster.LayoutExpand, 3, nil},
		// Header: one controller in a multi-node cluster.
		{"k0s-aio-1lb-1cp-2w.inventory.yml", cluster.LayoutK0s, 5, []want{{"single-controller", ""}}},
		{"k0s-prod-3cp-3w.inventory.yml", cluster.LayoutK0s, 11, nil},
		{"single.inventory.yml", cluster.LayoutSingle, 1, nil},
		{"invalid/k0s-hostname-no-dot.inventory.yml", cluster.LayoutK0s, 3, []want{
			{"name-no-dot", "kumaw2"}, {"single-controller", ""}, {"no-load-balancer", ""}}},
		{"invalid/k0s-ip-in-pod-range.inventory.yml", cluster.LayoutK0s, 2, []want{
			{"address-in-service-range", "kuma-cp1.example.com"}, {"address-in-pod-range", "kuma-w1.example.com"},
			{"single-controller", ""}, {"single-worker", ""}, {"no-load-balancer", ""}}},
		{"invalid/k0s-ip-missing.inventory.yml", cluster.LayoutK0s, 3, []want{
			{"k0s-address-not-ip", "kuma-w1.example.com"}, {"k0s-address-not-ip", "kuma-w2.example.com"},
			{"single-controller", ""}, {"no-load-balancer", ""}}},
		{"invalid/k0s-two-controllers.inventory.yml", cluster.LayoutK0s, 3, []want{
			{"controllers-even", ""}, {"single-worker", ""}, {"no-load-balancer", ""}}},
		{"invalid/raft-even-cores.inventory.yml", cluster.LayoutExpand, 2, []want{{"raft-even-cores", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c, err := Load(filepath.Join(fixtureDir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if c.Layout != tt.layout || len(c.Hosts) != tt.hosts {
				t.Errorf("layout %s with %d hosts, want %s with %d", c.Layout, len(c.Hosts), tt.layout, tt.hosts)
			}
			var got []want
			for _, f := range Validate(c) {
				if f.Severity >= Warning {
					got = append(got, want{f.Code, f.Host})
				}
			}
			sortWants(got)
			exp := slices.Clone(tt.findings)
			sortWants(exp)
			if !slices.Equal(got, exp) {
				t.Errorf("findings %v, want %v", got, exp)
			}
		})
	}
}

func sortWants(w []want) {
	slices.SortFunc(w, func(a, b want) int { return strings.Compare(a.String(), b.String()) })
}

func TestFixtureHosts(t *testing.T) {
	c, err := Load(filepath.Join(fixtureDir, "k0s-aio-1lb-1cp-2w.inventory.yml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		addr  string
		roles cluster.Roles
		line  int
	}{
		// kuma-3.local is declared in kuma_core (line 18) and kuma_worker.
		{"kuma-3.local", "127.0.10.3", cluster.Roles{cluster.RoleCore, cluster.RoleWorker}, 18},
		{"kuma-1.local", "127.0.10.1", cluster.Roles{cluster.RoleCollector, cluster.RoleCorrelator, cluster.RoleStorage}, 22},
		{"kuma-lb.local", "127.0.10.9", cluster.Roles{cluster.RoleLB}, 39},
		{"kuma-2.local", "127.0.10.2", cluster.Roles{cluster.RoleController}, 44},
	}
	for _, tt := range tests {
		h := c.Host(tt.name)
		if h == nil {
			t.Errorf("%s missing", tt.name)
			continue
		}
		if h.Address != tt.addr || h.IP.String() != tt.addr || !slices.Equal(h.Roles, tt.roles) || h.Line != tt.line {
			t.Errorf("%s: address %q ip %v roles %v line %d; want %q %v line %d",
				tt.name, h.Address, h.IP, h.Roles, h.Line, tt.addr, tt.roles, tt.line)
		}
	}
	if v := c.Host("kuma-1.local").Vars["low_resources"]; v != true {
		t.Errorf("all.vars low_resources not inherited: %v", v)
	}
	if v := c.Host("kuma-1.local").Vars["shard"]; v != 1 {
		t.Errorf("host var shard = %#v, want int 1", v)
	}

	a, err := Load(filepath.Join(fixtureDir, "acura-ha_env_file"))
	if err != nil {
		t.Fatal(err)
	}
	h := a.Host("acura-node-3")
	if h == nil || h.Address != "127.0.60.3" || !h.Roles.Has(cluster.RoleAcuraNode) || h.Line != 3 ||
		h.Vars["ansible_ssh_private_key_file"] != "/root/.ssh/acura_ed25519" {
		t.Errorf("acura-node-3 = %+v", h)
	}
}

func TestBrokenYAMLNamesLine(t *testing.T) {
	path := filepath.Join(fixtureDir, "invalid", "broken-yaml.inventory.yml")
	_, err := Load(path)
	if err == nil {
		t.Fatal("broken YAML loaded")
	}
	// Line 8 is the mis-indented raft_node_addr.
	if !strings.HasPrefix(err.Error(), path+":8: ") {
		t.Errorf("error %q does not start with %q", err, path+":8: ")
	}
}
