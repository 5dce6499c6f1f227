package agent

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/kube"
	"github.com/kuma-agent/kuma-agent/internal/testlab/kubelab"
)

// The kubeconfig is the layout's admin.conf unless configured, and only
// Kubernetes layouts read one.
func TestKubeAccessPaths(t *testing.T) {
	cfg := config.DefaultKubernetes()
	for layout, want := range map[cluster.Layout]string{cluster.LayoutK0s: kube.K0sAdminConf, cluster.LayoutAcura: kube.KubeadmAdminConf} {
		if k := newKubeAccess(cfg, &cluster.Cluster{Layout: layout}); k == nil || k.path != want {
			t.Errorf("%s: %+v, want %s", layout, k, want)
		}
	}
	if k := newKubeAccess(cfg, &cluster.Cluster{Layout: cluster.LayoutDistributed}); k != nil {
		t.Errorf("distributed: %+v", k)
	}
	if k := newKubeAccess(cfg, nil); k != nil {
		t.Errorf("no inventory: %+v", k)
	}
	cfg.Kubeconfig = "/etc/kuma-agent/kubeconfig"
	if k := newKubeAccess(cfg, &cluster.Cluster{Layout: cluster.LayoutK0s}); k.path != cfg.Kubeconfig {
		t.Errorf("configured: %s", k.path)
	}
}

// A kubeconfig that changes (k0s rotates admin.conf) is read again; a
// missing one is an error naming it.
func TestKubeAccessReloads(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	path := filepath.Join(t.TempDir(), "admin.conf")
	write := func(server string, mtime time.Time) {
		conf := fmt.Sprintf("clusters: [{name: c, cluster: {server: %q, certificate-authority-data: %s}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n",
			server, base64.StdEncoding.EncodeToString(ca))
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	k := &kubeAccess{path: path, timeout: time.Second}
	if _, err := k.get(); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("missing kubeconfig: %v", err)
	}
	write(srv.URL, time.Unix(1000, 0))
	c1, err := k.get()
	if err != nil || c1.Server() != srv.URL {
		t.Fatalf("first: %v %v", c1, err)
	}
	if c, _ := k.get(); c != c1 {
		t.Fatal("an unchanged kubeconfig was read again")
	}
	write("https://127.0.0.2:6443", time.Unix(2000, 0))
	if c, err := k.get(); err != nil || c.Server() != "https://127.0.0.2:6443" {
		t.Fatalf("after the change: %v %v", c, err)
	}
}

// On Acura the dead-member cleanup deletes the removed controller's Node
// through the layout's admin kubeconfig: cleanupOptions wires the
// Kubernetes access as its NodeDeleter, and that deletes the Node on a
// real kube-apiserver (and is quiet about one already gone). k0s gets no
// deleter: k0s removes its own Nodes' controllers, not the agent.
func TestCleanupDeletesTheAcuraNodeThroughTheKubeconfig(t *testing.T) {
	api := kubelab.Start(t, kubelab.Options{})
	api.CreateNode(t, "c3", "False")
	api.CreateNode(t, "c2", "True")
	cfg := config.Default()
	cfg.Kubernetes.Kubeconfig = api.LayoutKubeconfig(t, kubelab.Kubeadm)
	cfg.Supervisor.Cleanup.Method = config.CleanupAPI
	acura := &cluster.Cluster{Layout: cluster.LayoutAcura}
	a := &Agent{cfg: cfg, cluster: acura, kube: newKubeAccess(cfg.Kubernetes, acura), log: (&logBuffer{}).Logger()}
	o := a.cleanupOptions(cfg.Supervisor.Cleanup)
	if o.DeleteNode == nil {
		t.Fatal("Acura cleanup without a Node deleter")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := o.DeleteNode.DeleteNode(ctx, "c3"); err != nil {
		t.Fatal(err)
	}
	kc := api.Client(t, kubelab.Kubeadm)
	if _, err := kc.Node(ctx, "c3"); !kube.IsNotFound(err) {
		t.Fatalf("node c3 after DeleteNode: %v, want not found", err)
	}
	if _, err := kc.Node(ctx, "c2"); err != nil {
		t.Fatalf("node c2: %v", err)
	}
	if err := o.DeleteNode.DeleteNode(ctx, "c3"); err != nil {
		t.Fatalf("deleting a Node already gone: %v", err)
	}
	k0s := &cluster.Cluster{Layout: cluster.LayoutK0s}
	b := &Agent{cfg: cfg, cluster: k0s, kube: newKubeAccess(cfg.Kubernetes, k0s), log: a.log}
	if o := b.cleanupOptions(cfg.Supervisor.Cleanup); o.DeleteNode != nil {
		t.Fatal("k0s cleanup with a Node deleter")
	}
}
