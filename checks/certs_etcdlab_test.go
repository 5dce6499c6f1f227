package checks

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/testlab/etcdlab"
)

// The certificates a real etcd runs with, where kubeadm and k0s keep the
// etcd client's: the certs check reads both layouts, and with its clock a
// year on, names the client certificate with each layout's renewal.
func TestCertsReadARealEtcdPKI(t *testing.T) {
	lab := etcdlab.Start(t, etcdlab.Options{})
	root := t.TempDir()
	for _, l := range []etcdlab.Layout{etcdlab.Kubeadm, etcdlab.K0s} {
		if err := lab.WriteLayoutPKI(root, l); err != nil {
			t.Fatal(err)
		}
	}
	c := &Certs{Root: root}
	if res := c.Run(context.Background()); res.Status != OK || !strings.HasPrefix(res.Message, "4 certificate(s) valid") {
		t.Fatalf("%+v", res)
	}
	c.Now = func() time.Time { return time.Now().Add(360 * 24 * time.Hour) }
	res := c.Run(context.Background())
	all := res.Message + "\n" + strings.Join(res.Details, "\n")
	if res.Status != Crit || !strings.Contains(all, "/etc/kubernetes/pki/apiserver-etcd-client.crt: CN=kuma-agent-etcd-client") ||
		!strings.Contains(all, "/var/lib/k0s/pki/apiserver-etcd-client.crt") ||
		!strings.Contains(res.Remedy, "kubeadm certs renew all") || !strings.Contains(res.Remedy, "k0scontroller") {
		t.Fatalf("%+v", res)
	}
}
