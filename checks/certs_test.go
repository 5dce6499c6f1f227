package checks

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/testlab/testpki"
)

var certsNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// certTree writes files (path on the node -> content) under a temp root.
func certTree(t *testing.T, files map[string][]byte) string {
	t.Helper()
	root := t.TempDir()
	for p, data := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func days(n int) time.Time { return certsNow.Add(time.Duration(n) * 24 * time.Hour) }

func TestCertsKubeadmExpiringIn5DaysIsCriticalWithTheRenewal(t *testing.T) {
	root := certTree(t, map[string][]byte{
		"/etc/kubernetes/pki/ca.crt":        testpki.CertPEM(t, "kubernetes", days(3000)),
		"/etc/kubernetes/pki/apiserver.crt": testpki.CertPEM(t, "kube-apiserver", days(5)),
		"/etc/kubernetes/pki/apiserver.key": []byte("not read"),
		"/etc/kubernetes/pki/etcd/peer.crt": testpki.CertPEM(t, "acura-1", days(200)),
		"/etc/kubernetes/admin.conf":        testpki.Kubeconfig("kubernetes-admin", testpki.CertPEM(t, "kubernetes", days(3000)), testpki.CertPEM(t, "kubernetes-admin", days(20))),
	})
	c := &Certs{Root: root, Now: func() time.Time { return certsNow }}
	res := c.Run(context.Background())
	if res.Status != Crit {
		t.Fatalf("%+v", res)
	}
	for _, want := range []string{"/etc/kubernetes/pki/apiserver.crt", "CN=kube-apiserver", "expires in 5 days"} {
		if !strings.Contains(res.Message, want) {
			t.Errorf("message %q lacks %q", res.Message, want)
		}
	}
	if !strings.Contains(res.Remedy, "kubeadm certs renew all") || !strings.Contains(res.Remedy, "/etc/kubernetes/manifests") {
		t.Errorf("remedy %q", res.Remedy)
	}
	// The admin kubeconfig's embedded client certificate (20 days) is a warning beside it.
	details := strings.Join(res.Details, "\n")
	if !strings.Contains(details, "warn: /etc/kubernetes/admin.conf (users[kubernetes-admin].client-certificate-data): CN=kubernetes-admin") {
		t.Errorf("details lack the kubeconfig's warning:\n%s", details)
	}
	if strings.Contains(details, "peer.crt") || strings.Contains(details, "ca.crt") {
		t.Errorf("certificates far from expiry reported:\n%s", details)
	}
	got := map[string]float64{}
	for _, s := range c.Samples() {
		got[s.Labels[0]] = s.Value
	}
	if len(got) != 5 || got["/etc/kubernetes/pki/apiserver.crt"] != float64(days(5).Unix()) {
		t.Errorf("samples %v", got)
	}
	if f := c.Soonest(1); len(f) != 1 || f[0].Layout != "kubeadm" || f[0].NotAfter != days(5).Unix() {
		t.Errorf("soonest %+v", f)
	}
}

func TestCertsWarningAt20Days(t *testing.T) {
	root := certTree(t, map[string][]byte{"/var/lib/k0s/pki/server.crt": testpki.CertPEM(t, "k0s-api", days(20))})
	res := (&Certs{Root: root, Now: func() time.Time { return certsNow }}).Run(context.Background())
	if res.Status != Warn || !strings.Contains(res.Message, "/var/lib/k0s/pki/server.crt: CN=k0s-api,O=kuma-agent test expires in 20 days") ||
		!strings.Contains(res.Remedy, "systemctl restart k0scontroller") {
		t.Fatalf("%+v", res)
	}
	// Thresholds are the config's.
	res = (&Certs{Root: root, Warn: 10 * 24 * time.Hour, Crit: 2 * 24 * time.Hour, Now: func() time.Time { return certsNow }}).Run(context.Background())
	if res.Status != OK || !strings.Contains(res.Message, "1 certificate(s) valid") {
		t.Fatalf("%+v", res)
	}
}

func TestCertsExpiredKubeletClientFromAKubeconfigReference(t *testing.T) {
	pemAndKey := append(testpki.CertPEM(t, "system:node:acura-1", days(-2)), "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"...)
	root := certTree(t, map[string][]byte{
		"/etc/kubernetes/kubelet.conf":                    []byte("users:\n- name: default-auth\n  user:\n    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem\n    client-key: /var/lib/kubelet/pki/kubelet-client-current.pem\n"),
		"/var/lib/kubelet/pki/kubelet-client-current.pem": pemAndKey,
	})
	res := (&Certs{Root: root, Now: func() time.Time { return certsNow }}).Run(context.Background())
	if res.Status != Crit || !strings.Contains(res.Message, "/var/lib/kubelet/pki/kubelet-client-current.pem: CN=system:node:acura-1") || !strings.Contains(res.Message, "expired 2 days ago") {
		t.Fatalf("%+v", res)
	}
}

func TestCertsBadFilesAreNamedNotFatal(t *testing.T) {
	root := certTree(t, map[string][]byte{
		"/etc/kubernetes/pki/front-proxy-client.crt":      []byte("-----BEGIN CERTIFICATE-----\ngarbage"),
		"/etc/kubernetes/scheduler.conf":                  []byte("users:\n- name: s\n  user: {client-certificate-data: '***'}\n"),
		"/etc/kubernetes/pki/apiserver.crt":               testpki.CertPEM(t, "kube-apiserver", days(300)),
		"/opt/kaspersky/kuma/core/certificates/core.cert": testpki.CertPEM(t, "kuma-core", days(25)),
	})
	res := (&Certs{Root: root, Now: func() time.Time { return certsNow }, AgentFiles: []string{"/etc/kuma-agent/route.crt"}}).Run(context.Background())
	all := res.Message + "\n" + strings.Join(res.Details, "\n")
	for _, want := range []string{
		"/etc/kubernetes/pki/front-proxy-client.crt: a PEM header without a well-formed block",
		"/etc/kubernetes/scheduler.conf: users[s].client-certificate-data: not base64",
		"/etc/kuma-agent/route.crt does not exist (named in agent.yaml)",
		"/opt/kaspersky/kuma/core/certificates/core.cert: CN=kuma-core",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("finding lacks %q:\n%s", want, all)
		}
	}
	if res.Status != Warn || !strings.Contains(res.Remedy, "KUMA") {
		t.Fatalf("%+v", res)
	}
}

func TestCertsExtraPathsAndNothingFound(t *testing.T) {
	root := certTree(t, map[string][]byte{
		"/srv/tls/a.pem":        testpki.CertPEM(t, "site-a", days(3)),
		"/srv/tls/cluster.yaml": testpki.Kubeconfig("u", testpki.CertPEM(t, "ca", days(900)), testpki.CertPEM(t, "site-u", days(900))),
	})
	c := &Certs{Root: root, Now: func() time.Time { return certsNow }, ExtraPaths: []string{"/srv/tls/*.pem", "/srv/tls/cluster.yaml"}}
	res := c.Run(context.Background())
	if res.Status != Crit || !strings.Contains(res.Message, "/srv/tls/a.pem") || res.Remedy != certsRenewExtra {
		t.Fatalf("%+v", res)
	}
	if n := len(c.Samples()); n != 3 {
		t.Fatalf("%d samples, want 3 (the PEM and the kubeconfig's two)", n)
	}
	res = (&Certs{Root: t.TempDir(), Now: func() time.Time { return certsNow }}).Run(context.Background())
	if res.Status != OK || !strings.Contains(res.Message, "no certificate found") {
		t.Fatalf("%+v", res)
	}
}
