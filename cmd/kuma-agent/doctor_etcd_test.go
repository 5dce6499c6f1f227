package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/inventory"
	"github.com/kuma-agent/kuma-agent/internal/testlab/etcdlab"
)

// `doctor --only etcd` on a dedicated k0s controller of the production
// fixture, its etcd a real 3-member etcd named as the inventory's
// controllers: ok (exit 0) while etcd is healthy; a killed member is
// etcd's own finding naming it.
func TestDoctorEtcdOnAController(t *testing.T) {
	inv := filepath.Join(inventoryFixtures, "k0s-prod-3cp-3w.inventory.yml")
	c, err := inventory.Load(inv)
	if err != nil {
		t.Fatal(err)
	}
	var ctl []string
	for _, h := range c.EtcdMembers() {
		ctl = append(ctl, h.Name)
	}
	if len(ctl) != 3 || !c.Host(ctl[0]).Roles.Has(cluster.RoleController) {
		t.Fatalf("fixture controllers %v", ctl)
	}
	lab := etcdlab.Start(t, etcdlab.Options{Members: 3, Names: ctl})
	cfg := config.Default()
	cfg.Inventory, cfg.NodeName = inv, ctl[0]
	cfg.Checks.Etcd.Endpoint = lab.Members[0].ClientURL
	f := lab.LayoutPKI(etcdlab.K0s)
	cfg.Checks.Etcd.CAFile, cfg.Checks.Etcd.CertFile, cfg.Checks.Etcd.KeyFile = f.CAFile, f.CertFile, f.KeyFile
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	doctor := func() (int, doctorJSON) {
		var out, errb bytes.Buffer
		code := dispatch(context.Background(), []string{"doctor", "--config", cfgPath, "--only", "etcd", "--format", "json"}, &out, &errb)
		return code, decodeDoctor(t, out.String())
	}
	if code, d := doctor(); code != 0 || d.status("etcd") != "ok" {
		t.Fatalf("healthy etcd: exit %d %+v", code, d.Findings)
	}
	lab.Kill(lab.Members[2])
	code, d := doctor()
	// An election after killing the leader: /health says false until it
	// ends (bounded: 50 tries, 10 s).
	for i := 0; code == 2 && i < 50; i++ {
		time.Sleep(200 * time.Millisecond)
		code, d = doctor()
	}
	if code != 1 || d.status("etcd") != "warn" || !strings.Contains(d.Findings[0].Message, "etcd member unhealthy: "+ctl[2]) ||
		!strings.Contains(d.Findings[0].Remedy, "`k0s etcd member-list`") {
		t.Fatalf("killed member: exit %d %+v", code, d.Findings)
	}
}
