package kube

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
	"net/url"
	"strings"
	"time"
)

// Defaults bounding every exchange with the API server.
const (
	DefaultTimeout = 5 * time.Second
	// DefaultMaxBody bounds a response body: a list of a few hundred Pods
	// with their full specs is a few MiB.
	DefaultMaxBody = 16 << 20
)

// Client talks to one API server as the kubeconfig's identity.
type Client struct {
	server  string
	token   string
	http    *http.Client
	timeout time.Duration
	maxBody int64
}

// Option adjusts a Client.
type Option func(*Client)

// WithTimeout bounds each request (default DefaultTimeout).
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithMaxBody bounds each response body (default DefaultMaxBody).
func WithMaxBody(n int64) Option { return func(c *Client) { c.maxBody = n } }

// WithHTTPClient replaces the HTTP client built from the kubeconfig (tests).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// New builds a client for t: TLS 1.2+, the kubeconfig's CA only, its client
// certificate or bearer token.
func New(t Target, opts ...Option) (*Client, error) {
	c := &Client{server: strings.TrimRight(t.Server, "/"), token: t.Token, timeout: DefaultTimeout, maxBody: DefaultMaxBody}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(t.CAPEM) {
		return nil, fmt.Errorf("kubeconfig %s: certificate-authority: no PEM certificate in it", t.Source)
	}
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, ServerName: t.TLSServerName}
	if t.CertPEM != nil {
		cert, err := tls.X509KeyPair(t.CertPEM, t.KeyPEM)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: client certificate and key: %w", t.Source, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	// No proxy from the environment: the API server is the cluster's own.
	c.http = &http.Client{Transport: &http.Transport{TLSClientConfig: tc, Proxy: nil,
		TLSHandshakeTimeout: DefaultTimeout, ResponseHeaderTimeout: DefaultTimeout, MaxIdleConns: 4, IdleConnTimeout: time.Minute},
		// The API server never redirects the calls we make; a redirect is refused.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Server is the API server's URL.
func (c *Client) Server() string { return c.server }

// StatusError is a non-2xx answer of the API server.
type StatusError struct {
	Method, Path string
	Code         int
	// Reason and Message are the Status object's, when the body is one.
	Reason, Message string
}

func (e *StatusError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Code)
	}
	return fmt.Sprintf("kubernetes %s %s: %d %s", e.Method, e.Path, e.Code, msg)
}

// IsNotFound reports a 404 answer.
func IsNotFound(err error) bool { return statusCode(err) == http.StatusNotFound }

// IsConflict reports an answer saying the object changed under us: a
// failed `test` op of a JSON patch (422 with reason Invalid, or the
// 409 Conflict an older server sends).
func IsConflict(err error) bool {
	c := statusCode(err)
	return c == http.StatusConflict || c == http.StatusUnprocessableEntity
}

func statusCode(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// do sends one request (bounded by the client's timeout) and decodes a 2xx
// JSON answer into out (nil: discarded).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, contentType string, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := c.server + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return fmt.Errorf("kubernetes %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("kubernetes %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return fmt.Errorf("kubernetes %s %s: reading the answer: %w", method, path, err)
	}
	if int64(len(data)) > c.maxBody {
		return fmt.Errorf("kubernetes %s %s: answer larger than %d bytes", method, path, c.maxBody)
	}
	if resp.StatusCode/100 != 2 {
		se := &StatusError{Method: method, Path: path, Code: resp.StatusCode}
		var st struct{ Reason, Message string }
		if json.Unmarshal(data, &st) == nil {
			se.Reason, se.Message = st.Reason, cutText(st.Message, 300)
		}
		return se
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("kubernetes %s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

// cutText bounds a server-supplied message in our errors.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// get decodes the object or list at path into out.
func (c *Client) get(ctx context.Context, path string, query url.Values, out any) error {
	return c.do(ctx, http.MethodGet, path, query, "", nil, out)
}
