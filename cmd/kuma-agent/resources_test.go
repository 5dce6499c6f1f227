package main

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/testlab/sandbox"
)

// An Acura node with 12 GiB of RAM (its /proc/meminfo, read through
// gopsutil) is named by doctor with the documented minimum; 16 GiB passes.
func TestDoctorNamesANodeBelowTheRAMMinimum(t *testing.T) {
	for _, c := range []struct {
		memKiB uint64
		want   string
	}{{12 << 20, "warn"}, {16 << 20, "ok"}} {
		t.Run(c.want, func(t *testing.T) {
			n := newNode(t, sandbox.Fault{MemTotalKiB: c.memKiB})
			b, err := os.ReadFile(n.cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			var cfg config.Config
			if err := yaml.Unmarshal(b, &cfg); err != nil {
				t.Fatal(err)
			}
			cfg.Roles = []cluster.Role{cluster.RoleAcuraNode}
			// The sandbox's disk is this machine's: judge RAM and CPUs only.
			cfg.Checks.Resources.Minimums[cluster.RoleAcuraNode] = config.ResourceMinimum{Memory: 16e9, CPUs: 8}
			if b, err = yaml.Marshal(cfg); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(n.cfgPath, b, 0o600); err != nil {
				t.Fatal(err)
			}
			_, out, _ := n.doctor(t, "--format", "json", "--only", "resources")
			d := decodeDoctor(t, out)
			if len(d.Findings) != 1 || d.Findings[0].Status != c.want {
				t.Fatalf("%d KiB: %s", c.memKiB, out)
			}
			f := d.Findings[0]
			if c.want == "warn" && (!strings.Contains(f.Message, "12.0 GiB of RAM, below the 16 GB minimum for acura-node") || !strings.Contains(f.Remedy, "more RAM")) {
				t.Fatalf("finding: %+v", f)
			}
		})
	}
}
