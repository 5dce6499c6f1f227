// Package kubelab runs a real kube-apiserver for tests, against a real etcd (etcdlab), with
// the layouts' admin kubeconfig written where k0s and kubeadm keep it. There is no
// controller-manager, scheduler or kubelet: nothing reacts to what a test writes, so the
// tests play those parts (mark a Node NotReady, move a Pod, set a Longhorn volume's status)
// with Do.
//
// The binary is built once from the Go module proxy by packaging/test/kube-apiserver.sh
// (a few minutes, cached outside the repository, `make kube-apiserver`); KUMA_KUBE_APISERVER
// names a binary to use instead.
package kubelab

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/kube"
	"github.com/kuma-agent/kuma-agent/internal/testlab"
	"github.com/kuma-agent/kuma-agent/internal/testlab/etcdlab"
	"github.com/kuma-agent/kuma-agent/internal/testlab/testpki"
)

// readyTimeout bounds the API server's start (about 2 s here; more on a busy machine).
const readyTimeout = 90 * time.Second

// Options shape a lab API server.
type Options struct {
	// Etcd is the etcd it stores into; nil starts a one-member etcd for it.
	Etcd *etcdlab.Cluster
	// Net, with Host, runs it in host Host of a lab of network namespaces
	// (netlab), on the host's address and port 6443, where agents in the
	// other hosts reach it; the lab's own requests leave from that host.
	Net  etcdlab.Hosts
	Host int
}

// APIServer is a running kube-apiserver.
type APIServer struct {
	// URL is https://127.0.0.1:port.
	URL string
	// Etcd is the etcd behind it.
	Etcd *etcdlab.Cluster
	// Dir holds its PKI and the admin kubeconfig (Kubeconfig).
	Dir        string
	Kubeconfig string

	ca     *testpki.CA
	admin  testpki.Pair
	net    etcdlab.Hosts
	host   int
	client *http.Client
	log    *testlab.SyncBuffer

	mu   sync.Mutex
	proc *testlab.Daemon
}

// Binary returns the kube-apiserver to run: KUMA_KUBE_APISERVER, or the cached build
// (built now, once, if it is missing).
func Binary(t testlab.TB) string {
	t.Helper()
	if p := os.Getenv("KUMA_KUBE_APISERVER"); p != "" {
		return p
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("kubelab: %v", err)
	}
	cmd := exec.Command(filepath.Join(root, "packaging", "test", "kube-apiserver.sh"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		testlab.Unavailable(t, fmt.Sprintf("kubelab: no kube-apiserver (packaging/test/kube-apiserver.sh: %v): run `make kube-apiserver`\n%s", err, stderr.String()))
		return ""
	}
	return strings.TrimSpace(string(out))
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Start starts an API server and waits until /readyz answers.
func Start(t testlab.TB, opts Options) *APIServer {
	t.Helper()
	bin := Binary(t)
	e := opts.Etcd
	if e == nil {
		e = etcdlab.Start(t, etcdlab.Options{})
	}
	s := &APIServer{Etcd: e, Dir: t.TempDir(), log: &testlab.SyncBuffer{}, net: opts.Net, host: opts.Host}
	ip := "127.0.0.1"
	if s.net != nil {
		ip = s.net.Addr(s.host)
	}
	ca, err := testpki.NewCA("kubernetes-ca")
	if err != nil {
		t.Fatalf("kubelab: %v", err)
	}
	s.ca = ca
	serving, err := ca.Issue(testpki.Leaf{CommonName: "kube-apiserver", IPs: []net.IP{net.ParseIP(ip)}, DNSNames: []string{"localhost", "kubernetes"}, Server: true})
	if err != nil {
		t.Fatalf("kubelab: %v", err)
	}
	// The admin identity of both layouts' admin.conf: a client certificate in system:masters.
	admin, err := ca.Issue(testpki.Leaf{CommonName: "kubernetes-admin", Organization: []string{"system:masters"}, Client: true})
	if err != nil {
		t.Fatalf("kubelab: %v", err)
	}
	s.admin = admin
	pki := filepath.Join(s.Dir, "pki")
	must(t, ca.WriteCA(filepath.Join(pki, "ca.crt")))
	must(t, serving.Write(filepath.Join(pki, "apiserver.crt"), filepath.Join(pki, "apiserver.key")))
	must(t, writeServiceAccountKeys(pki))

	port := 6443 // a namespace of its own: the well-known port is free there
	if s.net == nil {
		port = testlab.FreePort(t, "tcp")
	}
	s.URL = "https://" + net.JoinHostPort(ip, strconv.Itoa(port))
	args := []string{
		"--etcd-servers=" + strings.Join(e.Endpoints(), ","),
		"--etcd-cafile=" + e.CAFile,
		"--etcd-certfile=" + e.CertFile,
		"--etcd-keyfile=" + e.KeyFile,
		"--bind-address=" + ip,
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + pki,
		"--tls-cert-file=" + filepath.Join(pki, "apiserver.crt"),
		"--tls-private-key-file=" + filepath.Join(pki, "apiserver.key"),
		"--client-ca-file=" + filepath.Join(pki, "ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + filepath.Join(pki, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(pki, "sa.key"),
		"--authorization-mode=AlwaysAllow",
		"--service-cluster-ip-range=10.96.0.0/16",
		// Pods without a ServiceAccount: there is no controller-manager to create "default".
		"--disable-admission-plugins=ServiceAccount",
		// One etcd may serve several lab API servers.
		"--etcd-prefix=/registry-" + strconv.Itoa(port),
	}
	s.start(t, bin, args)
	s.client = s.newClient(t)
	must(t, s.writeKubeconfig(filepath.Join(s.Dir, "admin.conf")))
	s.Kubeconfig = filepath.Join(s.Dir, "admin.conf")
	s.waitReady(t)
	return s
}

func (s *APIServer) start(t testlab.TB, bin string, args []string) {
	cmd := exec.Command(bin, args...)
	if s.net != nil {
		cmd = s.net.Exec(s.host, bin, args...) // `ip netns exec` execs it in place
	}
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	proc, err := testlab.Start(cmd)
	if err != nil {
		t.Fatalf("kubelab: kube-apiserver: %v", err)
		return
	}
	s.mu.Lock()
	s.proc = proc
	s.mu.Unlock()
	t.Cleanup(s.Stop)
}

// Stop stops the API server (SIGTERM, SIGKILL after 10 s).
func (s *APIServer) Stop() {
	s.mu.Lock()
	proc := s.proc
	s.proc = nil
	s.mu.Unlock()
	if proc != nil {
		proc.Stop(syscall.SIGTERM, testlab.StopGrace)
	}
}

// Log is what the API server printed so far.
func (s *APIServer) Log() string { return s.log.String() }

func (s *APIServer) waitReady(t testlab.TB) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	var last string
	for time.Now().Before(deadline) {
		s.mu.Lock()
		proc := s.proc
		s.mu.Unlock()
		if proc != nil && !proc.Running() {
			t.Fatalf("kubelab: kube-apiserver exited:\n%s", tail(s.Log()))
		}
		code, body, err := s.Do(context.Background(), http.MethodGet, "/readyz", nil)
		if err == nil && code == http.StatusOK {
			return
		}
		last = fmt.Sprintf("%d %s %v", code, body, err)
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("kubelab: kube-apiserver not ready after %s: %s\n%s", readyTimeout, last, tail(s.Log()))
}

func tail(s string) string {
	if len(s) > 8000 {
		return "..." + s[len(s)-8000:]
	}
	return s
}

func (s *APIServer) newClient(t testlab.TB) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.ca.CertPEM)
	cert, err := tls.X509KeyPair(s.admin.CertPEM, s.admin.KeyPEM)
	if err != nil {
		t.Fatalf("kubelab: admin key pair: %v", err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	if s.net != nil {
		tr.DialContext = s.net.Dialer(s.host)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: tr}
}

// Do sends one request as the admin and returns the status and body; body is JSON (or,
// for PATCH, a JSON patch when it starts with '[' and a merge patch otherwise).
func (s *APIServer) Do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, r)
	if err != nil {
		return 0, nil, err
	}
	switch {
	case method == http.MethodPatch && len(body) > 0 && body[0] == '[':
		req.Header.Set("Content-Type", "application/json-patch+json")
	case method == http.MethodPatch:
		req.Header.Set("Content-Type", "application/merge-patch+json")
	case body != nil:
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return resp.StatusCode, data, err
}

// MustDo is Do that fails the test unless the status is 2xx.
func (s *APIServer) MustDo(t testlab.TB, method, path string, body []byte) []byte {
	t.Helper()
	code, data, err := s.Do(context.Background(), method, path, body)
	if err != nil || code/100 != 2 {
		t.Fatalf("kubelab: %s %s: %d %v: %s", method, path, code, err, data)
	}
	return data
}

// Layout names where a layout keeps its admin kubeconfig, relative to a root (kuma-ha.md).
type Layout struct{ AdminConf string }

var (
	K0s     = Layout{AdminConf: "var/lib/k0s/pki/admin.conf"}
	Kubeadm = Layout{AdminConf: "etc/kubernetes/admin.conf"}
)

// WriteLayoutKubeconfig writes the admin kubeconfig under root where layout keeps it.
func (s *APIServer) WriteLayoutKubeconfig(root string, l Layout) error {
	return s.writeKubeconfig(filepath.Join(root, l.AdminConf))
}

func (s *APIServer) writeKubeconfig(path string) error {
	b64 := base64.StdEncoding.EncodeToString
	conf := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: admin@lab
  context:
    cluster: lab
    user: admin
current-context: admin@lab
`, s.URL, b64(s.ca.CertPEM), b64(s.admin.CertPEM), b64(s.admin.KeyPEM))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("kubelab: %w", err)
	}
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return fmt.Errorf("kubelab: %w", err)
	}
	return nil
}

func writeServiceAccountKeys(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("kubelab: service account key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("kubelab: service account key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return fmt.Errorf("kubelab: service account key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("kubelab: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		return fmt.Errorf("kubelab: %w", err)
	}
	return nil
}

func must(t testlab.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("kubelab: %v", err)
	}
}

// Client is the agent's Kubernetes client on this API server, built the
// way the agent builds it: from the admin kubeconfig at layout's path.
func (s *APIServer) Client(t testlab.TB, l Layout) *kube.Client {
	t.Helper()
	tg, err := kube.LoadKubeconfig(s.LayoutKubeconfig(t, l))
	must(t, err)
	var opts []kube.Option
	if s.net != nil {
		// The test process is outside the hosts: the lab's client dials from the API server's.
		opts = append(opts, kube.WithHTTPClient(s.newClient(t)))
	}
	c, err := kube.New(tg, opts...)
	must(t, err)
	return c
}

// LayoutKubeconfig writes the admin kubeconfig where layout keeps it under
// a fresh temporary root and returns its path.
func (s *APIServer) LayoutKubeconfig(t testlab.TB, l Layout) string {
	t.Helper()
	root := t.TempDir()
	must(t, s.WriteLayoutKubeconfig(root, l))
	return filepath.Join(root, l.AdminConf)
}
