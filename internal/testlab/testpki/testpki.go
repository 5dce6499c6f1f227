// Package testpki makes certificates for tests of certificate readers: a
// self-signed certificate with the subject and expiry a test needs, as PEM.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"sync/atomic"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/testlab"
)

var serial atomic.Int64

// CertPEM is a self-signed certificate for cn valid until notAfter (from a
// day before it, or notAfter's own past), PEM-encoded.
func CertPEM(t testlab.TB, cn string, notAfter time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testpki: key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: cn, Organization: []string{"kuma-agent test"}},
		NotBefore: notAfter.Add(-400 * 24 * time.Hour), NotAfter: notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("testpki: certificate: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// Kubeconfig is a kubeconfig with caPEM as the cluster's embedded CA and
// clientPEM as user user's embedded client certificate.
func Kubeconfig(user string, caPEM, clientPEM []byte) []byte {
	b64 := base64.StdEncoding.EncodeToString
	return []byte(`apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: ` + b64(caPEM) + `
    server: https://127.0.0.1:6443
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
    client-key-data: c2VjcmV0
`)
}
