// Package nspawnlab boots real systemd hosts for tests: one
// systemd-nspawn container per netlab host, each in that host's network
// namespace, so a test gets real systemd, D-Bus and units on addresses
// that can be cut off like any netlab host.
//
// Host i of a lab with netlab prefix P is named P-hi everywhere: network
// namespace, machine name (its hostname) and the cgroup it runs in. The
// rootfs (`make rootfs`) is booted with --volatile=overlay, so nothing a
// test writes survives the container and one rootfs serves every run.
//
// Every container, cgroup and namespace a Lab makes is removed by
// t.Cleanup, also when the test fails or a boot fails halfway; New removes
// what an earlier test binary left when it was killed.
package nspawnlab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/testlab"
	"github.com/kuma-agent/kuma-agent/internal/testlab/netlab"
)

// DefaultRootfs is where `make rootfs` puts the rootfs unless KUMA_ROOTFS
// says otherwise.
const DefaultRootfs = "/var/cache/kuma-agent/rootfs-bookworm-2"

// DefaultBootTimeout bounds one boot. A boot takes 0.3-2 s here; several
// at once on 2 cores under -race need far more headroom than that.
const DefaultBootTimeout = 60 * time.Second

// Tools are the programs New needs on this machine.
var Tools = []string{"systemd-nspawn", "nsenter", "ip"}

// Options configure every host of a lab.
type Options struct {
	// BindRO and Bind map a host path to a path in every container,
	// read-only and read-write (e.g. a dir of built binaries -> /opt/kuma-test).
	BindRO map[string]string
	Bind   map[string]string
	// BootTimeout bounds each boot (New and Host.Start); 0 is DefaultBootTimeout.
	BootTimeout time.Duration
	// NspawnArgs are appended to the systemd-nspawn command line.
	NspawnArgs []string
}

// Lab is a set of booted containers on one netlab switch.
type Lab struct {
	t      testlab.TB
	net    *netlab.Lab
	opts   Options
	rootfs string
	hier   []hierarchy
	logDir string
	hosts  []*Host // index 0 is host 1
}

// Rootfs is the rootfs containers boot: $KUMA_ROOTFS or DefaultRootfs.
func Rootfs() (string, error) {
	dir := os.Getenv("KUMA_ROOTFS")
	if dir == "" {
		dir = DefaultRootfs
	}
	if _, err := os.Stat(filepath.Join(dir, "lib/systemd/systemd")); err != nil {
		return "", fmt.Errorf("nspawnlab: no test rootfs with systemd at %s: run `make rootfs` as root (or set KUMA_ROOTFS)", dir)
	}
	return dir, nil
}

// Need stops the test unless this machine can boot lab hosts: without
// root it skips loudly; without a tool (Tools) or the test rootfs it fails
// in CI and skips loudly elsewhere (testlab). It returns the rootfs. New
// calls it; a test that prepares something costly before New calls it
// first.
func Need(t testlab.TB) string {
	t.Helper()
	testlab.NeedRoot(t, "systemd-nspawn containers (nspawnlab)")
	testlab.NeedTools(t, Tools...)
	rootfs, err := Rootfs()
	if err != nil {
		testlab.Unavailable(t, err.Error())
	}
	return rootfs
}

// New makes a netlab switch with n hosts and boots one container on each,
// in parallel. It returns when every host is booted (running or
// degraded). Without root it skips the test loudly; without a tool or the
// test rootfs it fails in CI and skips loudly elsewhere (testlab).
func New(t testlab.TB, n int, o Options) *Lab {
	t.Helper()
	rootfs := Need(t)
	hier, err := hierarchies()
	if err != nil {
		t.Fatalf("nspawnlab: %v", err)
	}
	if o.BootTimeout <= 0 {
		o.BootTimeout = DefaultBootTimeout
	}
	args, err := bindArgs(o)
	if err != nil {
		t.Fatalf("nspawnlab: %v", err)
	}
	sweepStale(hier)
	l := &Lab{t: t, opts: o, rootfs: rootfs, hier: hier, logDir: t.TempDir()}
	l.net = netlab.New(t, n)
	for i := 1; i <= n; i++ {
		name := l.net.Namespace(i)
		l.hosts = append(l.hosts, &Host{lab: l, i: i, name: name, args: args})
	}
	// Registered after netlab's: runs first, so containers stop before
	// their namespaces go.
	t.Cleanup(l.close)

	start := time.Now()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for k, h := range l.hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = h.Start(context.Background())
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("nspawnlab: boot: %v", err)
	}
	t.Logf("nspawnlab: %d hosts booted in %v", n, time.Since(start).Round(time.Millisecond))
	return l
}

// bindArgs turns the bind options into nspawn arguments, sorted so that
// the command line is the same on every run.
func bindArgs(o Options) ([]string, error) {
	var args []string
	for _, b := range []struct {
		flag string
		m    map[string]string
	}{{"--bind-ro=", o.BindRO}, {"--bind=", o.Bind}} {
		keys := make([]string, 0, len(b.m))
		for k := range b.m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, src := range keys {
			dst := b.m[src]
			// nspawn splits the spec at ':'.
			if !filepath.IsAbs(src) || !filepath.IsAbs(dst) || strings.Contains(src+dst, ":") {
				return nil, fmt.Errorf("bind %q -> %q: want absolute paths without ':'", src, dst)
			}
			if _, err := os.Stat(src); err != nil {
				return nil, fmt.Errorf("bind: %w", err)
			}
			args = append(args, b.flag+src+":"+dst)
		}
	}
	return append(args, o.NspawnArgs...), nil
}

// Net is the underlying network lab (addresses, namespaces, CutOff/Heal).
func (l *Lab) Net() *netlab.Lab { return l.net }

// Prefix is the lab's name prefix; every host, namespace and cgroup name
// starts with it (see Sweep).
func (l *Lab) Prefix() string { return l.net.Prefix() }

// N is the number of hosts; they are numbered 1..N.
func (l *Lab) N() int { return len(l.hosts) }

// Host is host i (1..N).
func (l *Lab) Host(i int) *Host {
	if i < 1 || i > len(l.hosts) {
		panic(fmt.Sprintf("nspawnlab: host %d of %d", i, len(l.hosts))) // a bug in the test
	}
	return l.hosts[i-1]
}

// Hosts are all hosts, host 1 first.
func (l *Lab) Hosts() []*Host { return append([]*Host(nil), l.hosts...) }

// CutOff unplugs host i from the switch; Heal plugs it back in.
func (l *Lab) CutOff(i int) error { return l.net.CutOff(i) }

// Heal plugs host i back in.
func (l *Lab) Heal(i int) error { return l.net.Heal(i) }

// close stops every container (in parallel: each takes a couple of
// seconds) and removes their cgroups. Errors are reported, never fatal:
// cleanup must get as far as it can.
func (l *Lab) close() {
	var wg sync.WaitGroup
	for _, h := range l.hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.Stop(); err != nil {
				l.t.Logf("nspawnlab cleanup: %v", err)
			}
			for _, dir := range h.cgroupDirs() {
				if err := removeCgroup(dir); err != nil {
					l.t.Errorf("nspawnlab cleanup: %v", err)
				}
			}
		}()
	}
	wg.Wait()
}
