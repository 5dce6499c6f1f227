package agent

import (
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
