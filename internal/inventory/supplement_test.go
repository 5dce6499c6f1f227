package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

const acuraNodes = "n1 ansible_ssh_host=203.0.113.1\nn2 ansible_ssh_host=10.0.0.2\nn3 ansible_ssh_host=10.0.0.3\n"

func TestSupplementDeclaresLBAndAddresses(t *testing.T) {
	supp := "# kuma-agent only\n[lb]\nlb1 ansible_ssh_host=203.0.113.9 internal_address=10.0.0.9\n\n[nodes]\nn1 internal_address=10.0.0.1\n"
	c, err := Loader{}.ParseSupplemented("ha_env_file", []byte(acuraNodes), "ha_env_file.kuma-agent", []byte(supp))
	if err != nil {
		t.Fatal(err)
	}
	if c.Layout != cluster.LayoutAcura || len(c.Hosts) != 4 {
		t.Fatalf("layout %s, %d hosts", c.Layout, len(c.Hosts))
	}
	lb := c.Host("lb1")
	if lb == nil || !lb.Roles.Has(cluster.RoleLB) || lb.Roles.Has(cluster.RoleAcuraNode) {
		t.Fatalf("lb: %+v", lb)
	}
	if len(c.EtcdMembers()) != 3 {
		t.Errorf("the balancer counts as an etcd member: %d", len(c.EtcdMembers()))
	}
	n1 := c.Host("n1")
	if n1.Address != "10.0.0.1" || n1.IP.String() != "10.0.0.1" || n1.AddressFrom != InternalAddressVar ||
		n1.PublicAddress != "203.0.113.1" || n1.PublicFrom != "ansible_ssh_host" {
		t.Errorf("n1 addresses: %+v", n1)
	}
	if n2 := c.Host("n2"); n2.Address != "10.0.0.2" || n2.PublicAddress != "" || n2.AddressFrom != "ansible_ssh_host" {
		t.Errorf("n2 addresses: %+v", n2)
	}
	if lb.Address != "10.0.0.9" || lb.PublicAddress != "203.0.113.9" {
		t.Errorf("lb addresses: %+v", lb)
	}
	// The preflight says which address is which, and why.
	var said bool
	for _, f := range Validate(c) {
		if f.Severity >= Warning {
			t.Errorf("finding %+v", f)
		}
		if f.Code == "addresses" && f.Host == "n1" && strings.Contains(f.Message, "internal address 10.0.0.1 (internal_address") &&
			strings.Contains(f.Message, "public address 203.0.113.1 (ansible_ssh_host") {
			said = true
		}
	}
	if !said {
		t.Error("no addresses finding for n1")
	}
}

// Acura's no-dot rule is its kubeadm nodes': the balancer may have an FQDN.
func TestAcuraBalancerNameMayHaveADot(t *testing.T) {
	c, err := Loader{}.ParseSupplemented("ha_env_file", []byte(acuraNodes), "s", []byte("[lb]\nlb.example.com ansible_ssh_host=10.0.0.9\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range Validate(c) {
		if f.Severity >= Warning {
			t.Errorf("finding %+v", f)
		}
	}
	if c.Layout.NameRuleFor(c.Host("lb.example.com").Roles) != cluster.NameAny || c.Layout.NameRuleFor(c.Host("n1").Roles) != cluster.NameNoDot {
		t.Error("name rules")
	}
}

func TestSupplementRefusals(t *testing.T) {
	for _, tc := range []struct{ name, supp, want string }{
		{"unknown node", "n4 internal_address=10.0.0.4\n", "ha_env_file.kuma-agent:1: n4: is not in ha_env_file"},
		{"node as lb", "[lb]\n\nn2\n", "ha_env_file.kuma-agent:3: n2: is an Acura node in ha_env_file"},
		{"bad line", "[lb\n", "ha_env_file.kuma-agent:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Loader{}.ParseSupplemented("ha_env_file", []byte(acuraNodes), "ha_env_file.kuma-agent", []byte(tc.supp))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func TestLoadReadsTheSupplementNextToTheFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ha_env_file")
	if err := os.WriteFile(p, []byte(acuraNodes), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil || len(c.Hosts) != 3 {
		t.Fatalf("without a supplement: %v %v", c, err)
	}
	if err := os.WriteFile(p+SupplementSuffix, []byte("[lb]\nlb1 ansible_ssh_host=10.0.0.9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err = Load(p)
	if err != nil || c.Host("lb1") == nil || !c.Host("lb1").Roles.Has(cluster.RoleLB) {
		t.Fatalf("with a supplement: %v %v", c, err)
	}
	// A FIFO in its place is refused, never waited on.
	os.Remove(p + SupplementSuffix)
	if err := syscall.Mkfifo(p+SupplementSuffix, 0o600); err != nil {
		t.Skip("no FIFO here: ", err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), SupplementSuffix) {
		t.Fatalf("FIFO supplement: %v", err)
	}
}

func FuzzParseSupplemented(f *testing.F) {
	f.Add([]byte(acuraNodes), []byte("[lb]\nlb1 ansible_ssh_host=10.0.0.9\n"))
	f.Add([]byte(acuraNodes), []byte("n1 internal_address=10.0.0.1\n[lb:vars]\nx=y\n[all:children]\nlb\n"))
	f.Add([]byte("[lb]\nx\n"), []byte("[lb]\nx\n"))
	f.Fuzz(func(t *testing.T, data, supp []byte) {
		c, err := Loader{}.ParseSupplemented("main", data, "supp", supp)
		if err != nil {
			if s := err.Error(); !strings.HasPrefix(s, "main") && !strings.HasPrefix(s, "supp") {
				t.Fatalf("error names neither file: %v", err)
			}
			return
		}
		if len(c.Hosts) == 0 || c.Layout != cluster.LayoutAcura {
			t.Fatalf("accepted %+v", c)
		}
		for _, fd := range Validate(c) {
			if fd.Code == "" || fd.Message == "" {
				t.Fatalf("empty finding %+v", fd)
			}
		}
	})
}
