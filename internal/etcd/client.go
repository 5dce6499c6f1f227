package etcd

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultEndpoint is etcd's client API on the controller itself: k0s and
// kubeadm keep it off the network (kuma-ha.md §6).
const DefaultEndpoint = "https://127.0.0.1:2379"

// DefaultTimeout bounds one request.
const DefaultTimeout = 3 * time.Second

// maxBody caps every answer read (a member list of 128 members is ~40 KiB).
const maxBody = 256 << 10

// TLSFiles are the client's PEM files: the CA that signed etcd's serving
// certificate and a client certificate etcd accepts.
type TLSFiles struct {
	CAFile, CertFile, KeyFile string
}

// The layouts' etcd client files: the API server's own etcd client
// certificate, which each layout's tools use (k0s: /var/lib/k0s/pki;
// kubeadm, Acura: /etc/kubernetes/pki). A site that keeps them elsewhere
// sets checks.etcd.{ca,cert,key}_file.
var (
	K0sFiles     = TLSFiles{CAFile: "/var/lib/k0s/pki/etcd/ca.crt", CertFile: "/var/lib/k0s/pki/apiserver-etcd-client.crt", KeyFile: "/var/lib/k0s/pki/apiserver-etcd-client.key"}
	KubeadmFiles = TLSFiles{CAFile: "/etc/kubernetes/pki/etcd/ca.crt", CertFile: "/etc/kubernetes/pki/apiserver-etcd-client.crt", KeyFile: "/etc/kubernetes/pki/apiserver-etcd-client.key"}
)

// maxPEM caps a certificate or key file read.
const maxPEM = 64 << 10

// Client talks to etcd's JSON gateway. Its zero value is not usable: use
// NewClient, or set HTTP (tests).
type Client struct {
	// HTTP carries the TLS client configuration.
	HTTP *http.Client
	// Timeout bounds each request (DefaultTimeout when 0).
	Timeout time.Duration
}

// NewClient loads the TLS files (each named in its error) and returns a
// client for them.
func NewClient(f TLSFiles, timeout time.Duration) (*Client, error) {
	ca, err := readPEM(f.CAFile, "CA")
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("etcd CA %s: no PEM certificate in it", f.CAFile)
	}
	certPEM, err := readPEM(f.CertFile, "client certificate")
	if err != nil {
		return nil, err
	}
	keyPEM, err := readPEM(f.KeyFile, "client key")
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("etcd client certificate %s / key %s: %w", f.CertFile, f.KeyFile, err)
	}
	tr := &http.Transport{
		TLSClientConfig:       &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       30 * time.Second,
	}
	return &Client{HTTP: &http.Client{Transport: tr}, Timeout: timeout}, nil
}

func readPEM(path, what string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("etcd %s: no file configured", what)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", what, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", what, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("etcd %s %s: not a regular file", what, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPEM+1))
	if err != nil {
		return nil, fmt.Errorf("etcd %s %s: %w", what, path, err)
	}
	if len(b) > maxPEM {
		return nil, fmt.Errorf("etcd %s %s: larger than %d bytes", what, path, maxPEM)
	}
	return b, nil
}

// Health reads endpoint/health. etcd answers 503 with {"health":"false"}
// when it has no leader or an alarm: that is an answer, not an error.
func (c *Client) Health(ctx context.Context, endpoint string) (Health, error) {
	return call(c, ctx, http.MethodGet, endpoint, "/health", nil, DecodeHealth, http.StatusOK, http.StatusServiceUnavailable)
}

// MemberList reads the cluster's members as the endpoint's member knows them.
func (c *Client) MemberList(ctx context.Context, endpoint string) (MemberList, error) {
	return call(c, ctx, http.MethodPost, endpoint, "/v3/cluster/member/list", struct{}{}, DecodeMemberList, http.StatusOK)
}

// Status reads the endpoint's member's own status.
func (c *Client) Status(ctx context.Context, endpoint string) (Status, error) {
	return call(c, ctx, http.MethodPost, endpoint, "/v3/maintenance/status", struct{}{}, DecodeStatus, http.StatusOK)
}

// call is one request whose answer decode reads; errors name the URL.
func call[T any](c *Client, ctx context.Context, method, endpoint, path string, body any, decode func([]byte) (T, error), ok ...int) (T, error) {
	var zero T
	b, _, err := c.do(ctx, method, endpoint, path, body, ok...)
	if err != nil {
		return zero, err
	}
	v, err := decode(b)
	if err != nil {
		return zero, fmt.Errorf("%s%s: %w", endpoint, path, err)
	}
	return v, nil
}

// RemoveMember removes the member id through endpoint's member.
func (c *Client) RemoveMember(ctx context.Context, endpoint string, id uint64) error {
	body := map[string]string{"ID": strconv.FormatUint(id, 10)}
	b, _, err := c.do(ctx, http.MethodPost, endpoint, "/v3/cluster/member/remove", body, http.StatusOK)
	if err != nil {
		return err
	}
	var ml MemberList // the answer lists the members left
	if err := decodeStrict(b, &ml); err != nil {
		return fmt.Errorf("%s: member remove answer: %w", endpoint, err)
	}
	for _, m := range ml.Members {
		if uint64(m.ID) == id {
			return fmt.Errorf("%s: member %x still listed after its removal", endpoint, id)
		}
	}
	return nil
}

// do sends one request and reads at most maxBody bytes of its answer; a
// status not in ok is an error carrying the gateway's message.
func (c *Client) do(ctx context.Context, method, endpoint, path string, body any, ok ...int) ([]byte, int, error) {
	if c == nil || c.HTTP == nil {
		return nil, 0, errors.New("etcd: no client configured")
	}
	t := c.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	url := strings.TrimRight(endpoint, "/") + path
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, 0, fmt.Errorf("etcd %s: %w", url, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("etcd %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("etcd %s: reading the answer: %w", url, err)
	}
	if len(b) > maxBody {
		return nil, resp.StatusCode, fmt.Errorf("etcd %s: answer larger than %d bytes", url, maxBody)
	}
	for _, code := range ok {
		if resp.StatusCode == code {
			return b, resp.StatusCode, nil
		}
	}
	var ge gatewayError
	msg := ""
	if json.Unmarshal(b, &ge) == nil {
		msg = ge.Error
		if msg == "" {
			msg = ge.Message
		}
	}
	if len(msg) > maxText {
		msg = msg[:maxText]
	}
	return nil, resp.StatusCode, fmt.Errorf("etcd %s: %s: %q", url, resp.Status, msg)
}
