package inventory

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// vendorDir holds the example inventories printed in the KUMA online help,
// typed in as printed; NOTES.md there says what the help says of each.
var vendorDir = filepath.Join("testdata", "vendor")

// vendorCase is the verdict NOTES.md (section 3) gives a vendor example,
// as this checker must reach it.
type vendorCase struct {
	file string
	// loadErr: the file holds nothing to check (a fragment); the error
	// must say so and say nothing else.
	loadErr string
	layout  cluster.Layout
	exit    int
	// errors are exactly the error findings (code@host, "" for no host).
	errors []want
	// infos must be among the info findings.
	infos []want
}

var vendorCases = []vendorCase{
	// Demo: one k0s node, Core host outside the cluster, no balancer.
	{file: "3.0.2-k0s-demo.inventory.yml", layout: cluster.LayoutK0s, exit: 0,
		infos: []want{{"core-not-on-worker", "kuma.example.com"}, {"no-load-balancer", ""}}},
	// HA: the storage lines lack their ':' (the one vendor mistake), the
	// controllers' names have '_' (errors, as the issue keeps them); the k0s
	// rules still run (etcd-quorum).
	{file: "3.0.3-k0s-ha.inventory.yml", layout: cluster.LayoutK0s, exit: 2,
		errors: []want{{"names-folded", ""}, {"name-invalid", "kuma_cpm.example.com"},
			{"name-invalid", "kuma_cp2.example.com"}, {"name-invalid", "kuma_cp3.example.com"}},
		infos: []want{{"etcd-quorum", ""}, {"core-not-on-worker", "kuma-core.example.com"}}},
	{file: "4.0-k0s-ha.inventory.yml", layout: cluster.LayoutK0s, exit: 2,
		errors: []want{{"names-folded", ""}, {"name-invalid", "kuma_cpm.example.com"},
			{"name-invalid", "kuma_cp2.example.com"}, {"name-invalid", "kuma_cp3.example.com"}},
		infos: []want{{"etcd-quorum", ""}}},
	// ip: 0.0.0.0 everywhere with generate_etc_hosts: false.
	{file: "4.0-distributed.inventory.yml", layout: cluster.LayoutDistributed, exit: 0,
		infos: []want{{"address-placeholder", "kuma-core-1.example.com"}, {"etc-hosts-manual", ""}}},
	{file: "3.4-expand-aio-to-distributed.inventory.yml", layout: cluster.LayoutDistributed, exit: 0,
		infos: []want{{"address-placeholder", "kuma-storage-cluster1-server7.example.com"}}},
	// A fragment showing variable precedence: no host at all.
	{file: "4.0-override-vars.inventory.yml", loadErr: "inventory declares no hosts", exit: 2},
}

// TestVendorExamples: every example of the KUMA help gets the verdict the
// help implies, and no finding contradicts a documented fact.
func TestVendorExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(vendorDir, "*.inventory.yml"))
	if err != nil || len(files) != len(vendorCases) {
		t.Fatalf("vendor files %v (%v): want one case each, %d cases", files, err, len(vendorCases))
	}
	for _, tt := range vendorCases {
		t.Run(tt.file, func(t *testing.T) {
			c, err := Load(filepath.Join(vendorDir, tt.file))
			if tt.loadErr != "" {
				if err == nil || !strings.HasSuffix(err.Error(), tt.loadErr) || strings.Count(err.Error(), "\n") != 0 {
					t.Fatalf("error %v, want only %q", err, tt.loadErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Layout != tt.layout {
				t.Errorf("layout %s, want %s", c.Layout, tt.layout)
			}
			findings := Validate(c)
			if code := ExitCode(findings); code != tt.exit {
				t.Errorf("exit %d, want %d: %v", code, tt.exit, findings)
			}
			var errs, infos []want
			for _, f := range findings {
				if why := contradicts(c, f); why != "" {
					t.Errorf("finding %v contradicts the KUMA help: %s", f, why)
				}
				switch f.Severity {
				case Error:
					errs = append(errs, want{f.Code, f.Host})
				case Info:
					infos = append(infos, want{f.Code, f.Host})
				}
			}
			sortWants(errs)
			exp := append([]want(nil), tt.errors...)
			sortWants(exp)
			if fmt.Sprint(errs) != fmt.Sprint(exp) {
				t.Errorf("errors %v, want %v", errs, exp)
			}
			for _, w := range tt.infos {
				if !containsWant(infos, w) {
					t.Errorf("infos %v lack %v", infos, w)
				}
			}
		})
	}
}

func containsWant(ws []want, w want) bool {
	for _, x := range ws {
		if x == w {
			return true
		}
	}
	return false
}

// contradicts names the fact of NOTES.md section 1 that f contradicts, ""
// if none.
func contradicts(c *cluster.Cluster, f Finding) string {
	h := c.Host(f.Host)
	unspecified := func(h *cluster.Host) bool {
		ip, err := netip.ParseAddr(scalarString(h.Vars["ip"]))
		return err == nil && ip.WithZone("").IsUnspecified()
	}
	switch {
	case f.Code == "duplicate-address" && h != nil && unspecified(h):
		return "1.1: ip 0.0.0.0 is the template placeholder, never a duplicate"
	case f.Code == "address-placeholder" && f.Severity > Info && h != nil && !truthy(h.Vars["generate_etc_hosts"]):
		return "1.1: the placeholder is inert while generate_etc_hosts is false"
	case f.Code == "k0s-address-not-ip" && h != nil && !isK0sNode(h):
		return "1.3: the balancer (and any host outside the k0s nodes) needs no address"
	case f.Code == "core-not-on-worker" && f.Severity > Info:
		return "1.5: kuma_core keeps the install-time Core host, outside the cluster"
	case f.Code == "no-load-balancer" && f.Severity > Info && len(k0sNodes(c)) <= 1:
		return "1.4/3: the demo example has no balancer"
	case f.Code == "name-invalid" && h != nil && !strings.Contains(h.Name, "_"):
		return "1.2: the vendor's names are valid FQDNs apart from '_'"
	case f.Severity > Info && h != nil && h.Address == "" && strings.Contains(f.Code, "address") && !isK0sNode(h):
		return "1.3: a host without ansible_host / ip is resolved by name"
	case f.Severity == Error && f.Code != "names-folded" && f.Code != "name-invalid":
		return "3: the only mistakes in the examples are the folded storage lines and the '_' names"
	}
	return ""
}

// TestVendorFoldedStorage: the HA examples' storage lines without ':' are
// one error that says what happened, at the first of those lines.
func TestVendorFoldedStorage(t *testing.T) {
	for file, line := range map[string]int{"3.0.3-k0s-ha.inventory.yml": 49, "4.0-k0s-ha.inventory.yml": 47} {
		c, err := Load(filepath.Join(vendorDir, file))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, f := range Validate(c) {
			if f.Code != "names-folded" {
				continue
			}
			n++
			const msg = "`kuma_storage.hosts` is one string of 7 names: each host line needs a trailing ':'"
			if f.Severity != Error || f.Line != line || f.Host != "" || !strings.HasPrefix(f.Message, msg) ||
				!strings.Contains(f.Message, "Ansible makes it one host whose name is the 7 names joined by spaces") {
				t.Errorf("%s: finding %+v; want an error at line %d starting %q", file, f, line, msg)
			}
		}
		if n != 1 {
			t.Errorf("%s: %d names-folded findings, want 1", file, n)
		}
		for _, h := range c.Hosts {
			if h.Roles.Has(cluster.RoleStorage) {
				t.Errorf("%s: storage host %q made up from the folded string", file, h.Name)
			}
		}
	}
}

// TestVendorFilesDocumented: each vendor file names its source and version
// and has its row in NOTES.md.
func TestVendorFilesDocumented(t *testing.T) {
	notes, err := os.ReadFile(filepath.Join(vendorDir, "NOTES.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range vendorCases {
		data, err := os.ReadFile(filepath.Join(vendorDir, tt.file))
		if err != nil {
			t.Fatal(err)
		}
		for _, field := range []string{"# Source page", "# URL", "# Version", "# Verdict expected"} {
			if !strings.Contains(string(data), field) {
				t.Errorf("%s: header lacks %q", tt.file, field)
			}
		}
		if !strings.Contains(string(notes), "`"+tt.file+"`") {
			t.Errorf("NOTES.md has no row for %s", tt.file)
		}
	}
}
