package plan

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/etcd"
	"github.com/kuma-agent/kuma-agent/internal/testlab/etcdlab"
)

func TestEtcdCheckOnControllersOnly(t *testing.T) {
	c := &cluster.Cluster{Layout: cluster.LayoutK0s, Hosts: []*cluster.Host{
		{Name: "cp1.x", Roles: cluster.Roles{cluster.RoleController}}, {Name: "w1.x", Roles: cluster.Roles{cluster.RoleWorker}}}}
	for _, tc := range []struct {
		node string
		want bool
	}{{"cp1.x", true}, {"w1.x", false}} {
		n := Node{Name: tc.node, Roles: c.Host(tc.node).Roles, Self: c.Host(tc.node)}
		p := Build(config.Default(), "", c, nil, n, Selection{}, noCommands())
		if got := slices.Contains(names(p.Checks), checks.EtcdName); got != tc.want {
			t.Errorf("%s: etcd check %v, want %v", tc.node, got, tc.want)
		}
	}
}

func TestEtcdAccessPaths(t *testing.T) {
	cfg := config.Default()
	if got := EtcdAccessFor(cfg, cluster.LayoutAcura).Files; got != etcd.KubeadmFiles {
		t.Errorf("acura: %+v", got)
	}
	if got := EtcdAccessFor(cfg, cluster.LayoutK0s).Files; got != etcd.K0sFiles {
		t.Errorf("k0s: %+v", got)
	}
	cfg.Checks.Etcd.KeyFile = "/site/key.pem"
	if got := EtcdAccessFor(cfg, cluster.LayoutK0s).Files; got.KeyFile != "/site/key.pem" || got.CAFile != etcd.K0sFiles.CAFile {
		t.Errorf("override: %+v", got)
	}
}

// doctor's etcd check as plan builds it, on a real single-member etcd
// with the PKI where a layout keeps it (under a test root): healthy; the
// member stopped is etcd's own critical finding with the layout's
// runbook.
func TestEtcdCheckBuiltOnRealEtcd(t *testing.T) {
	lab := etcdlab.Start(t, etcdlab.Options{Names: []string{"cp1.x"}})
	cfg := config.Default()
	cfg.Checks.Etcd.Endpoint = lab.Members[0].ClientURL
	f := lab.LayoutPKI(etcdlab.K0s)
	cfg.Checks.Etcd.CAFile, cfg.Checks.Etcd.CertFile, cfg.Checks.Etcd.KeyFile = f.CAFile, f.CertFile, f.KeyFile
	c := &cluster.Cluster{Layout: cluster.LayoutK0s, Hosts: []*cluster.Host{{Name: "cp1.x", Roles: cluster.Roles{cluster.RoleController}}}}
	ch := etcdCheck(cfg, c, Node{Name: "cp1.x", Roles: cluster.Roles{cluster.RoleController}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if r := ch.Run(ctx); r.Status != checks.OK || !strings.Contains(r.Message, "1 of 1 members, leader cp1.x") {
		t.Fatalf("healthy: %s %q %q", r.Status, r.Message, r.Details)
	}
	lab.Stop(lab.Members[0])
	r := ch.Run(ctx)
	if r.Status != checks.Crit || !strings.Contains(r.Message, "etcd on this controller does not answer") || !strings.Contains(r.Remedy, "systemctl status k0scontroller") {
		t.Fatalf("stopped: %s %q remedy %q", r.Status, r.Message, r.Remedy)
	}
}
