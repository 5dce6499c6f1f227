package natsbus

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// RouteTLSConfig is mutual TLS for the routes between the embedded servers,
// from PEM files: this server presents certFile/keyFile both when it
// accepts a route and when it dials one, and a peer is accepted, either
// way, only with a certificate caFile signed. A dialled peer's certificate
// must also name the address in its route URL (an IP SAN for the
// inventory's addresses). Errors name the file.
func RouteTLSConfig(certFile, keyFile, caFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" || caFile == "" {
		return nil, errors.New("route tls: cert, key and ca files are all required")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("route tls: cert %s, key %s: %w", certFile, keyFile, err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("route tls: ca %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("route tls: ca %s: no PEM certificate in it", caFile)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool, // peers this server dials
		ClientCAs:    pool, // peers that dial this server
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}, nil
}
