package testpki

import (
	"encoding/base64"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/testlab"
)

// CertPEM is a certificate for cn, signed by a CA of its own, expiring at
// notAfter, PEM-encoded: what the tests of certificate readers (the certs
// check, certfile) feed them.
func CertPEM(t testlab.TB, cn string, notAfter time.Time) []byte {
	t.Helper()
	ca, err := NewCA(cn + " CA")
	if err != nil {
		t.Fatalf("%v", err)
	}
	p, err := ca.Issue(Leaf{CommonName: cn, Organization: []string{"kuma-agent test"}, Client: true, NotAfter: notAfter})
	if err != nil {
		t.Fatalf("%v", err)
	}
	return p.CertPEM
}

// Kubeconfig is a kubeconfig with caPEM as the cluster's embedded CA and
// clientPEM as user user's embedded client certificate, as kubeadm writes
// /etc/kubernetes/admin.conf (the key is a placeholder: for readers of
// certificates, not for a client).
func Kubeconfig(user string, caPEM, clientPEM []byte) []byte {
	return KubeconfigFor("https://127.0.0.1:6443", user, caPEM, clientPEM, []byte("secret"))
}

// KubeconfigFor is a kubeconfig for the API server at server, with the CA,
// the client certificate and its key embedded, as kubeadm writes
// /etc/kubernetes/admin.conf.
func KubeconfigFor(server, user string, caPEM, clientPEM, keyPEM []byte) []byte {
	b64 := base64.StdEncoding.EncodeToString
	return []byte(`apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: ` + b64(caPEM) + `
    server: ` + server + `
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: ` + user + `
  name: ` + user + `@kubernetes
current-context: ` + user + `@kubernetes
users:
- name: ` + user + `
  user:
    client-certificate-data: ` + b64(clientPEM) + `
    client-key-data: ` + b64(keyPEM) + `
`)
}
