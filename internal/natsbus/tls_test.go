package natsbus

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/testlab/testpki"
)

func TestClientTLS(t *testing.T) {
	cert, caFile := testpki.ServerCert(t, t.TempDir())
	s := startTestServer(t, ServerOptions{Name: "n1",
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})

	if _, err := Connect(ctxT(t, 2*time.Second), ClientOptions{URL: s.ClientURL(), Logger: quietLog,
		User: testAdmin.User, Password: testAdmin.Password}); err == nil {
		t.Fatal("a client that does not trust the server's certificate connected")
	}
	nc, err := Connect(ctxT(t, 10*time.Second), ClientOptions{URL: s.ClientURL(), CAFile: caFile, Logger: quietLog,
		User: testAdmin.User, Password: testAdmin.Password})
	if err != nil {
		t.Fatalf("Connect with the CA file: %v", err)
	}
	defer nc.Close()
	if _, err := nc.TLSConnectionState(); err != nil {
		t.Fatalf("connection is not TLS: %v", err)
	}
}

func TestRouteTLSConfigNamesFiles(t *testing.T) {
	dir := t.TempDir()
	cert, caFile := testpki.ServerCert(t, dir)
	certFile, keyFile := filepath.Join(dir, "route.pem"), filepath.Join(dir, "route.key")
	kder, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	c, err := RouteTLSConfig(certFile, keyFile, caFile)
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientAuth != tls.RequireAndVerifyClientCert || c.RootCAs == nil || c.ClientCAs == nil {
		t.Fatalf("route TLS is not mutual: %+v", c)
	}
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct{ cert, key, ca, want string }{
		{missing, keyFile, caFile, missing},
		{certFile, missing, caFile, missing},
		{certFile, keyFile, missing, missing},
		{certFile, keyFile, keyFile, keyFile + ": no PEM certificate"},
		{certFile, "", caFile, "all required"},
	} {
		if _, err := RouteTLSConfig(tc.cert, tc.key, tc.ca); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("RouteTLSConfig(%s, %s, %s) = %v, want an error naming %q", tc.cert, tc.key, tc.ca, err, tc.want)
		}
	}
}
