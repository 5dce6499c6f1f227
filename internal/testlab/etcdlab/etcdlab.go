// Package etcdlab runs a real etcd (Debian's etcd-server, 3.4) for tests: one member or a
// cluster of several on loopback, each member on its own 127.0.210.x address (so a member's
// address can stand for an inventory host), client API over TLS with client-certificate
// auth as in k0s and kubeadm, peers over plain HTTP. Members can be stopped, killed and
// started again; everything is stopped and removed when the test ends, also on failure.
//
// The lab writes its client certificates where the layouts keep them (WriteLayoutPKI), so
// a check reading /var/lib/k0s/pki or /etc/kubernetes/pki/etcd under a test root finds
// them.
package etcdlab

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
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

	"github.com/kuma-agent/kuma-agent/internal/testlab"
	"github.com/kuma-agent/kuma-agent/internal/testlab/testpki"
)

// Tool is the etcd binary the lab runs (Debian package etcd-server).
const Tool = "etcd"

// startTimeout bounds how long a member (or the cluster) may take to answer /health
// (a second or so here; a restarted member catching up on a machine loaded by other
// tests, load average 100+, took more than 30 s).
const startTimeout = 90 * time.Second

// Options shape a lab cluster.
type Options struct {
	// Members is the cluster size (default 1).
	Members int
	// QuotaBytes is etcd's --quota-backend-bytes (0: etcd's default of 2 GiB).
	QuotaBytes int64
	// Names are the member names (default m1, m2, ...): inventory host names in tests.
	Names []string
	// Net, with On, runs member k in host On[k] of a lab of network namespaces
	// (netlab) instead of on loopback: on the host's address, etcd's own ports
	// (2379, 2380), so agents in those hosts reach it as on a controller, and a
	// host cut off from the switch takes its member with it.
	Net Hosts
	On  []int
}

// Hosts are network-namespace hosts (netlab.Lab): a command run in host i,
// its address, and a dialer whose connections leave from it.
type Hosts interface {
	Exec(i int, name string, args ...string) *exec.Cmd
	Addr(i int) string
	Dialer(i int) func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Member is one etcd process.
type Member struct {
	Name      string
	IP        string
	ClientURL string // https://IP:port
	PeerURL   string // http://IP:port
	// Host is the netlab host it runs in (Options.On); 0: loopback.
	Host    int
	dataDir string
	log     *testlab.SyncBuffer

	mu   sync.Mutex
	proc *testlab.Daemon
}

// Cluster is a running lab etcd.
type Cluster struct {
	Members []*Member
	// Dir holds the PKI and the members' data directories.
	Dir string
	// CAFile, CertFile, KeyFile are a client's TLS files (the CA that signed the members'
	// serving certificates and a client certificate it accepts).
	CAFile, CertFile, KeyFile string

	ca      *testpki.CA
	client  testpki.Pair
	bin     string
	quota   int64
	initial string
	net     Hosts
	t       testlab.TB
}

// Start starts a cluster and waits until every member answers /health; it skips or
// fails the test (testlab rules) when etcd is not installed.
func Start(t testlab.TB, opts Options) *Cluster {
	t.Helper()
	testlab.NeedTools(t, Tool)
	n := opts.Members
	if n <= 0 {
		n = 1
	}
	if opts.Net != nil && len(opts.On) != n {
		t.Fatalf("etcdlab: %d members on %d hosts", n, len(opts.On))
	}
	c := &Cluster{Dir: t.TempDir(), bin: testlab.ToolPath(t, Tool), quota: opts.QuotaBytes, net: opts.Net, t: t}
	ca, err := testpki.NewCA("etcd-ca")
	if err != nil {
		t.Fatalf("etcdlab: %v", err)
	}
	c.ca = ca
	client, err := ca.Issue(testpki.Leaf{CommonName: "kuma-agent-etcd-client", Client: true})
	if err != nil {
		t.Fatalf("etcdlab: %v", err)
	}
	c.client = client
	c.CAFile = filepath.Join(c.Dir, "pki", "ca.crt")
	c.CertFile = filepath.Join(c.Dir, "pki", "client.crt")
	c.KeyFile = filepath.Join(c.Dir, "pki", "client.key")
	if err := ca.WriteCA(c.CAFile); err != nil {
		t.Fatalf("etcdlab: %v", err)
	}
	if err := client.Write(c.CertFile, c.KeyFile); err != nil {
		t.Fatalf("etcdlab: %v", err)
	}

	var initial []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("m%d", i+1)
		if i < len(opts.Names) {
			name = opts.Names[i]
		}
		ip := fmt.Sprintf("127.0.210.%d", i+1)
		var ports []int
		host := 0
		if c.net != nil {
			// A namespace of its own: etcd's well-known ports are free there.
			host, ip, ports = opts.On[i], c.net.Addr(opts.On[i]), []int{2379, 2380}
		} else {
			ports = freePorts(t, ip, 2)
		}
		m := &Member{
			Host:      host,
			Name:      name,
			IP:        ip,
			ClientURL: fmt.Sprintf("https://%s", net.JoinHostPort(ip, strconv.Itoa(ports[0]))),
			PeerURL:   fmt.Sprintf("http://%s", net.JoinHostPort(ip, strconv.Itoa(ports[1]))),
			dataDir:   filepath.Join(c.Dir, name+".etcd"),
			log:       &testlab.SyncBuffer{},
		}
		serving, err := ca.Issue(testpki.Leaf{CommonName: name, IPs: []net.IP{net.ParseIP(ip)}, DNSNames: []string{name, "localhost"}, Server: true, Client: true})
		if err != nil {
			t.Fatalf("etcdlab: %v", err)
		}
		if err := serving.Write(m.certFile(c), m.keyFile(c)); err != nil {
			t.Fatalf("etcdlab: %v", err)
		}
		initial = append(initial, name+"="+m.PeerURL)
		c.Members = append(c.Members, m)
	}
	c.initial = strings.Join(initial, ",")
	t.Cleanup(c.stopAll)
	for _, m := range c.Members {
		c.start(m, "new")
	}
	for _, m := range c.Members {
		c.WaitHealthy(m)
	}
	return c
}

func (m *Member) certFile(c *Cluster) string { return filepath.Join(c.Dir, "pki", m.Name+".crt") }
func (m *Member) keyFile(c *Cluster) string  { return filepath.Join(c.Dir, "pki", m.Name+".key") }

// Log is what the member printed so far (for a failing test's message).
func (m *Member) Log() string { return m.log.String() }

func (c *Cluster) start(m *Member, state string) {
	c.t.Helper()
	args := []string{
		"--name", m.Name,
		"--data-dir", m.dataDir,
		"--listen-client-urls", m.ClientURL,
		"--advertise-client-urls", m.ClientURL,
		"--listen-peer-urls", m.PeerURL,
		"--initial-advertise-peer-urls", m.PeerURL,
		"--initial-cluster", c.initial,
		"--initial-cluster-state", state,
		"--initial-cluster-token", "etcdlab",
		"--cert-file", m.certFile(c),
		"--key-file", m.keyFile(c),
		"--trusted-ca-file", c.CAFile,
		"--client-cert-auth",
		"--logger", "zap",
		"--log-outputs", "stderr",
		// Short timings: a member that is stopped shows as unreachable in a test's seconds.
		"--heartbeat-interval", "100",
		"--election-timeout", "1000",
	}
	if c.quota > 0 {
		args = append(args, "--quota-backend-bytes", strconv.FormatInt(c.quota, 10))
	}
	cmd := exec.Command(c.bin, args...)
	if c.net != nil {
		cmd = c.net.Exec(m.Host, c.bin, args...) // `ip netns exec` execs etcd in place: cmd's process is etcd
	}
	cmd.Stdout = m.log
	cmd.Stderr = m.log
	proc, err := testlab.Start(cmd)
	if err != nil {
		c.t.Fatalf("etcdlab: member %s: %v", m.Name, err)
		return
	}
	m.mu.Lock()
	m.proc = proc
	m.mu.Unlock()
}

// Running reports whether the member's process is up.
func (m *Member) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.proc != nil && m.proc.Running()
}

// Stop stops the member with SIGTERM (SIGKILL after 15 s: a last member alone can take ~10 s).
func (c *Cluster) Stop(m *Member) { c.signal(m, syscall.SIGTERM, 15*time.Second) }

// Kill kills the member at once, as a host dying would.
func (c *Cluster) Kill(m *Member) { c.signal(m, syscall.SIGKILL, 5*time.Second) }

func (c *Cluster) signal(m *Member, sig syscall.Signal, grace time.Duration) {
	m.mu.Lock()
	proc := m.proc
	m.mu.Unlock()
	if proc == nil {
		return
	}
	proc.Stop(sig, grace)
	m.mu.Lock()
	m.proc = nil
	m.mu.Unlock()
}

// Restart starts a stopped member again with its data and waits until it is healthy.
func (c *Cluster) Restart(m *Member) {
	c.t.Helper()
	if m.Running() {
		c.t.Fatalf("etcdlab: restart %s: still running", m.Name)
	}
	c.start(m, "existing")
	c.WaitHealthy(m)
}

func (c *Cluster) stopAll() {
	var wg sync.WaitGroup
	for _, m := range c.Members {
		wg.Add(1)
		go func(m *Member) {
			defer wg.Done()
			c.Stop(m)
		}(m)
	}
	wg.Wait()
}

// Endpoints are the members' client URLs.
func (c *Cluster) Endpoints() []string {
	out := make([]string, 0, len(c.Members))
	for _, m := range c.Members {
		out = append(out, m.ClientURL)
	}
	return out
}

// HTTPClient is a client that authenticates to the members as the layouts' clients do.
func (c *Cluster) HTTPClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.ca.CertPEM)
	cert, err := tls.X509KeyPair(c.client.CertPEM, c.client.KeyPEM)
	if err != nil {
		c.t.Fatalf("etcdlab: client key pair: %v", err)
	}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	if c.net != nil {
		tr.DialContext = c.dial
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: tr}
}

// dial connects from the host of the member that has addr's IP, so the test
// reaches each member in its namespace even while that host is cut off
// from the others.
func (c *Cluster) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	for _, m := range c.Members {
		if m.IP == host {
			return c.net.Dialer(m.Host)(ctx, network, addr)
		}
	}
	return nil, fmt.Errorf("etcdlab: %s is no member's address", addr)
}

// WaitHealthy waits until the member answers {"health":"true"}.
func (c *Cluster) WaitHealthy(m *Member) {
	c.t.Helper()
	hc := c.HTTPClient()
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		if !m.Running() {
			c.t.Fatalf("etcdlab: %s exited:\n%s", m.Name, m.Log())
		}
		ok, err := health(hc, m.ClientURL)
		if ok {
			return
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("etcdlab: %s not healthy after %s: %v\n%s", m.Name, startTimeout, last, m.Log())
}

func health(hc *http.Client, url string) (bool, error) {
	resp, err := hc.Get(url + "/health")
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var h struct {
		Health string `json:"health"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&h); err != nil {
		return false, fmt.Errorf("decode /health: %w", err)
	}
	if h.Health != "true" {
		return false, fmt.Errorf("/health: %q", h.Health)
	}
	return true, nil
}

// Post sends a JSON request to one member's gateway (tests use it to play an operator).
func (c *Cluster) Post(ctx context.Context, m *Member, path string, body any, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.ClientURL+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.HTTPClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("etcdlab: %s %s: %s: %s", m.Name, path, resp.Status, data)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

// Layout names where a layout keeps the etcd client's TLS files, relative to a root.
type Layout struct {
	CAFile, CertFile, KeyFile string
}

// The layouts' etcd client files (kuma-ha.md: k0s PKI under /var/lib/k0s/pki, kubeadm's etcd
// certificates in /etc/kubernetes/pki/etcd; the API server's etcd client certificate is the
// one each layout's own tools use).
var (
	K0s     = Layout{CAFile: "var/lib/k0s/pki/etcd/ca.crt", CertFile: "var/lib/k0s/pki/apiserver-etcd-client.crt", KeyFile: "var/lib/k0s/pki/apiserver-etcd-client.key"}
	Kubeadm = Layout{CAFile: "etc/kubernetes/pki/etcd/ca.crt", CertFile: "etc/kubernetes/pki/apiserver-etcd-client.crt", KeyFile: "etc/kubernetes/pki/apiserver-etcd-client.key"}
)

// Under is l's files below root: where WriteLayoutPKI(root, l) put them
// (same fields as etcd.TLSFiles, so a test converts it).
func (l Layout) Under(root string) Layout {
	return Layout{CAFile: filepath.Join(root, l.CAFile), CertFile: filepath.Join(root, l.CertFile), KeyFile: filepath.Join(root, l.KeyFile)}
}

// LayoutPKI writes the client's TLS files where l keeps them under a new
// temporary root and returns their paths (the test fails if it cannot).
func (c *Cluster) LayoutPKI(l Layout) Layout {
	c.t.Helper()
	root := c.t.TempDir()
	if err := c.WriteLayoutPKI(root, l); err != nil {
		c.t.Fatalf("etcdlab: layout PKI: %v", err)
	}
	return l.Under(root)
}

// WriteLayoutPKI copies the client's TLS files under root where layout keeps them.
func (c *Cluster) WriteLayoutPKI(root string, l Layout) error {
	if err := c.ca.WriteCA(filepath.Join(root, l.CAFile)); err != nil {
		return err
	}
	return c.client.Write(filepath.Join(root, l.CertFile), filepath.Join(root, l.KeyFile))
}

// freePorts finds n ports free on ip. Another process may take one before etcd binds it;
// etcd then exits at once and the test fails with etcd's message, which names the port.
func freePorts(t testlab.TB, ip string, n int) []int {
	t.Helper()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	out := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatalf("etcdlab: free port on %s: %v", ip, err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out
}

// ErrNotRunning is returned by lab operations on a stopped member.
var ErrNotRunning = errors.New("etcdlab: member not running")

// Process returns the member's process (for a test that must freeze it with SIGSTOP).
func (m *Member) Process() (*os.Process, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil {
		return nil, ErrNotRunning
	}
	return m.proc.Process(), nil
}
