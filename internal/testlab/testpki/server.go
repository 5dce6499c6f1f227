package testpki

import (
	"crypto/tls"
	"net"
	"path/filepath"

	"github.com/kuma-agent/kuma-agent/internal/testlab"
)

// ServerCert is a certificate for 127.0.0.1 and dnsNames (server and client
// use), issued by a CA of its own whose certificate is written to
// dir/ca.pem for the clients that must trust it: a TLS listener's one
// certificate in tests of a client (the CEF sender, the NATS client).
func ServerCert(t testlab.TB, dir string, dnsNames ...string) (cert tls.Certificate, caFile string) {
	t.Helper()
	ca, err := NewCA("kuma-agent test CA")
	if err != nil {
		t.Fatalf("%v", err)
		return
	}
	p, err := ca.Issue(Leaf{CommonName: "kuma-agent test", DNSNames: dnsNames, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true, Client: true})
	if err != nil {
		t.Fatalf("%v", err)
		return
	}
	caFile = filepath.Join(dir, "ca.pem")
	if err := ca.WriteCA(caFile); err != nil {
		t.Fatalf("%v", err)
		return
	}
	cert, err = tls.X509KeyPair(p.CertPEM, p.KeyPEM)
	if err != nil {
		t.Fatalf("testpki: key pair: %v", err)
		return
	}
	return cert, caFile
}
