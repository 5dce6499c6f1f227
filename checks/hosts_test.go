package checks

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// hostsTestCluster mirrors k0s-aio-1lb-1cp-2w.inventory.yml (built by hand:
// this package must not depend on the inventory parser).
func hostsTestCluster() *cluster.Cluster {
	c := &cluster.Cluster{Layout: cluster.LayoutK0s, Source: filepath.Join("..", "internal", "inventory", "testdata", "inventories", "k0s-aio-1lb-1cp-2w.inventory.yml")}
	for _, h := range []struct {
		name, addr string
		roles      cluster.Roles
	}{
		{"kuma-3.local", "127.0.10.3", cluster.Roles{cluster.RoleCore, cluster.RoleWorker}},
		{"kuma-1.local", "127.0.10.1", cluster.Roles{cluster.RoleCollector, cluster.RoleCorrelator, cluster.RoleStorage}},
		{"kuma-lb.local", "127.0.10.9", cluster.Roles{cluster.RoleLB}},
		{"kuma-2.local", "127.0.10.2", cluster.Roles{cluster.RoleController}},
		{"kuma-3.local", "127.0.10.3", cluster.Roles{cluster.RoleWorker}}, // listed twice, as in the inventory
		{"kuma-4.local", "127.0.10.4", cluster.Roles{cluster.RoleWorker}},
	} {
		c.Hosts = append(c.Hosts, &cluster.Host{Name: h.name, Address: h.addr, IP: netip.MustParseAddr(h.addr), Roles: h.roles})
	}
	return c
}

const hostsTestGood = "127.0.0.1 localhost\n" +
	"::1 localhost ip6-localhost ip6-loopback\n" +
	"127.0.10.1 kuma-1.local kuma-1\n" +
	"127.0.10.2\tkuma-2.local\n" +
	"127.0.10.3 kuma-3.local # core\n" +
	"127.0.10.4 kuma-4.local\n" +
	"127.0.10.9 kuma-lb.local\n"

func runHosts(t *testing.T, content string, c *cluster.Cluster) (Result, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hosts")
	writeCheckInput(t, p, content)
	return (&Hosts{File: p, Cluster: c}).Run(context.Background()), p
}

func TestHostsAllPresent(t *testing.T) {
	r, p := runHosts(t, hostsTestGood, hostsTestCluster())
	if r.Status != OK || r.Remedy != "" {
		t.Fatalf("got %+v", r)
	}
	if !strings.Contains(r.Message, "all 5 inventory hosts") || !linesContain(r.Details, "kuma-2.local -> 127.0.10.2 ("+p+":4)") {
		t.Errorf("result %+v does not account for the hosts", r)
	}
}

func TestHostsFindings(t *testing.T) {
	cases := []struct {
		name      string
		content   string
		want      Status
		msgHas    []string // with FILE replaced by the temp path
		remedyHas []string
	}{
		{"missing host", strings.Replace(hostsTestGood, "127.0.10.4 kuma-4.local\n", "", 1), Crit,
			[]string{"kuma-4.local is not in FILE"}, []string{"Add to FILE:\n  127.0.10.4 kuma-4.local\n"}},
		{"wrong address", strings.Replace(hostsTestGood, "127.0.10.2\tkuma-2.local", "10.0.0.5 kuma-2.local", 1), Crit,
			[]string{"FILE:4 maps kuma-2.local to 10.0.0.5, inventory says 127.0.10.2"}, []string{"127.0.10.2 kuma-2.local", "line 4: remove kuma-2.local from the 10.0.0.5 line"}},
		{"extra contradicting address", hostsTestGood + "127.0.10.7 kuma-3.local\n", Crit,
			[]string{"FILE:8 also maps kuma-3.local to 127.0.10.7, inventory says 127.0.10.3"}, []string{"line 8: remove kuma-3.local"}},
		{"debian 127.0.1.1 line", hostsTestGood + "127.0.1.1 kuma-1.local kuma-1\n", Crit,
			[]string{"FILE:8 also maps kuma-1.local to 127.0.1.1, inventory says 127.0.10.1"}, []string{"line 8"}},
		{"case differs", strings.Replace(hostsTestGood, "kuma-lb.local", "KUMA-LB.local", 1), Warn,
			[]string{"FILE:7 spells kuma-lb.local as KUMA-LB.local"}, []string{"line 7: write kuma-lb.local exactly"}},
		{"malformed line", hostsTestGood + "10.0.0.300 broken.local\n", Warn,
			[]string{"FILE:8: malformed line"}, []string{"line 8"}},
		{"ipv6 entry besides", hostsTestGood + "fd00::4 kuma-4.local\n", Warn,
			[]string{"FILE:8 also maps kuma-4.local to fd00::4"}, []string{"line 8"}},
		{"only other family", strings.Replace(hostsTestGood, "127.0.10.4 kuma-4.local", "fd00::4 kuma-4.local", 1), Crit,
			[]string{"does not map kuma-4.local to its inventory address 127.0.10.4", "(and 1 more)"}, []string{"127.0.10.4 kuma-4.local"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, p := runHosts(t, c.content, hostsTestCluster())
			if r.Status != c.want {
				t.Fatalf("status = %v, want %v: %+v", r.Status, c.want, r)
			}
			for _, s := range c.msgHas {
				if s = strings.ReplaceAll(s, "FILE", p); !strings.Contains(r.Message, s) {
					t.Errorf("message %q lacks %q", r.Message, s)
				}
			}
			for _, s := range c.remedyHas {
				if s = strings.ReplaceAll(s, "FILE", p); !strings.Contains(r.Remedy, s) {
					t.Errorf("remedy %q lacks %q", r.Remedy, s)
				}
			}
		})
	}
}

func TestHostsLoopbackPitfall(t *testing.T) {
	// A real (LAN) inventory address: the Debian line must be called out.
	c := &cluster.Cluster{Layout: cluster.LayoutDistributed, Hosts: []*cluster.Host{
		{Name: "kuma-core-1.example.com", Address: "10.20.0.11", IP: netip.MustParseAddr("10.20.0.11")},
	}}
	r, p := runHosts(t, "127.0.0.1 localhost\n127.0.1.1 kuma-core-1.example.com kuma-core-1\n", c)
	if r.Status != Crit {
		t.Fatalf("status %v: %+v", r.Status, r)
	}
	want := p + ":2 maps kuma-core-1.example.com to loopback 127.0.1.1, inventory says 10.20.0.11"
	if !strings.Contains(r.Message, want) || !strings.Contains(r.Message, "127.0.1.1 pitfall") {
		t.Errorf("message %q lacks %q", r.Message, want)
	}
	if !strings.Contains(r.Remedy, "10.20.0.11 kuma-core-1.example.com") || !strings.Contains(r.Remedy, "line 2: remove kuma-core-1.example.com from the 127.0.1.1 line") {
		t.Errorf("remedy %q", r.Remedy)
	}
	// The same file is fine when the inventory itself says 127.0.1.1.
	c.Hosts[0].Address, c.Hosts[0].IP = "127.0.1.1", netip.MustParseAddr("127.0.1.1")
	if r, _ := runHosts(t, "127.0.1.1 kuma-core-1.example.com\n", c); r.Status != OK {
		t.Errorf("loopback inventory address: %+v", r)
	}
}

func TestHostsInventoryAddressNotAnIP(t *testing.T) {
	c := &cluster.Cluster{Layout: cluster.LayoutDistributed, Hosts: []*cluster.Host{
		{Name: "kuma-1.example.com", Address: "kuma-1-mgmt.example.com"},
		{Name: "kuma-2.example.com", Address: "kuma-2-mgmt.example.com"},
	}}
	r, p := runHosts(t, "10.1.1.1 kuma-1.example.com\n", c)
	if r.Status != Crit || !strings.Contains(r.Message, "kuma-2.example.com is not in "+p) {
		t.Fatalf("got %+v", r)
	}
	if !strings.Contains(r.Remedy, "<IP of kuma-2-mgmt.example.com> kuma-2.example.com") {
		t.Errorf("remedy %q", r.Remedy)
	}
	if strings.Contains(r.Message+strings.Join(r.Details, " "), "kuma-1.example.com is not") {
		t.Errorf("kuma-1 should be satisfied by any entry: %+v", r)
	}
}

func TestHostsAcuraFixture(t *testing.T) {
	// acura-ha_env_file: three nodes with dot-less names.
	c := &cluster.Cluster{Layout: cluster.LayoutAcura}
	for i, ip := range []string{"127.0.60.1", "127.0.60.2", "127.0.60.3"} {
		c.Hosts = append(c.Hosts, &cluster.Host{Name: "acura-node-" + string(rune('1'+i)), Address: ip, IP: netip.MustParseAddr(ip)})
	}
	r, _ := runHosts(t, "127.0.60.1 acura-node-1\n127.0.60.2 acura-node-2\n127.0.60.3 acura-node-3\n", c)
	if r.Status != OK {
		t.Fatalf("got %+v", r)
	}
	r, _ = runHosts(t, "127.0.60.1 acura-node-1\n", c)
	if r.Status != Crit || !strings.Contains(r.Remedy, "127.0.60.2 acura-node-2\n  127.0.60.3 acura-node-3") {
		t.Fatalf("got %+v", r)
	}
}

func TestHostsMissingFileAndNoInventory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hosts")
	r := (&Hosts{File: p, Cluster: hostsTestCluster()}).Run(context.Background())
	if r.Status != Crit || !strings.Contains(r.Message, p+" does not exist") {
		t.Fatalf("got %+v", r)
	}
	for _, l := range []string{"127.0.10.1 kuma-1.local", "127.0.10.9 kuma-lb.local"} {
		if !strings.Contains(r.Remedy, l) {
			t.Errorf("remedy %q lacks %q", r.Remedy, l)
		}
	}
	for _, c := range []*cluster.Cluster{nil, {}} {
		if r := (&Hosts{File: p, Cluster: c}).Run(context.Background()); r.Status != Unknown {
			t.Errorf("cluster %v: status %v, want unknown", c, r.Status)
		}
	}
	// Unreadable (a directory): unknown, not a false "missing".
	if r := (&Hosts{File: t.TempDir(), Cluster: hostsTestCluster()}).Run(context.Background()); r.Status != Unknown {
		t.Errorf("directory as hosts file: %+v", r)
	}
}
