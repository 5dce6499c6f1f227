package packages

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/testlab"
	"github.com/kuma-agent/kuma-agent/internal/testlab/nspawnlab"
)

// optDir is where the packages and the fake Core are bound, read-only, in
// every container.
const optDir = "/opt/kuma-e2e"

// hostTools are what the tests run on this machine besides the lab's
// (nspawnlab.Tools): make for `make package`, dpkg-deb to read the .deb,
// dpkg and rpm to compare versions, man to render the installed manual
// page (the test rootfs has no man-db).
var hostTools = []string{"make", "dpkg", "dpkg-deb", "rpm", "man"}

// requireE2E skips unless KUMA_E2E is set, then checks root, the tools
// and the test rootfs before anything is built (testlab: a missing tool
// fails in CI, skips loudly elsewhere).
func requireE2E(t *testing.T) {
	t.Helper()
	testlab.NeedE2E(t, "package end-to-end test: it builds the .deb and .rpm and boots systemd-nspawn hosts")
	nspawnlab.Need(t)
	testlab.NeedTools(t, hostTools...)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pkgs != nil {
		os.RemoveAll(pkgs.dir)
	}
	os.Exit(code)
}

// build is one `make package` run.
type build struct {
	Version    string // what `kuma-agent version` prints
	PkgVersion string // the packages' version
	Deb, RPM   string // paths inside the containers
	DebName    string // file names
	RPMName    string
	DebSize    int64
	RPMSize    int64
	BinSize    int64
	bin        string // the binary on this machine
}

// packageSet is what the tests install: the tree's version (as `make
// package` builds it) and a newer build of the same tree for upgrades.
type packageSet struct {
	dir        string // on this machine; bound at optDir
	GitVersion string // `git describe --tags --always --dirty`, or 0.0.0-dev
	Cur, Next  build
	FakeCore   string // path inside the containers
}

var (
	pkgOnce sync.Once
	pkgs    *packageSet
	pkgErr  error
)

// packages builds the package set once per test binary.
func packages(t *testing.T) *packageSet {
	t.Helper()
	pkgOnce.Do(func() {
		start := time.Now()
		pkgs, pkgErr = buildPackages()
		if pkgErr == nil {
			t.Logf("packages built in %v: %s, %s (and %s)", time.Since(start).Round(time.Millisecond), pkgs.Cur.DebName, pkgs.Cur.RPMName, pkgs.Next.PkgVersion)
		}
	})
	if pkgErr != nil {
		t.Fatal(pkgErr)
	}
	return pkgs
}

func repoRoot() (string, error) { return filepath.Abs("../../..") }

// gitDescribe is the version the Makefile gives a build of this tree.
func gitDescribe(root string) string {
	out, err := exec.Command("git", "-C", root, "describe", "--tags", "--always", "--dirty").Output()
	if v := strings.TrimSpace(string(out)); err == nil && v != "" {
		return v
	}
	return "0.0.0-dev"
}

func buildPackages() (*packageSet, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kuma-e2e-pkg-")
	if err != nil {
		return nil, err
	}
	s := &packageSet{dir: dir, GitVersion: gitDescribe(root)}
	for _, b := range []struct {
		sub, version string
		dst          *build
	}{
		// No VERSION: the Makefile's own `git describe`, as `make package`.
		{"cur", "", &s.Cur},
		// The same tree one build later: "+next" is build metadata that
		// sorts after the version it follows (packaging/pkgversion.sh).
		{"next", s.GitVersion + "+next", &s.Next},
	} {
		bin := filepath.Join(dir, b.sub, "kuma-agent")
		dist := filepath.Join(dir, b.sub, "dist")
		// With the test hooks: the cluster test skews a clock through
		// KUMA_AGENT_TEST_CLOCK_OFFSET, which a release build ignores.
		args := []string{"-C", root, "--no-print-directory", "package", "BIN=" + bin, "DIST=" + dist, "GOTAGS=kumatesthooks"}
		if b.version != "" {
			args = append(args, "VERSION="+b.version)
		}
		cmd := exec.Command("make", args...)
		cmd.Env = makeEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			return s, fmt.Errorf("make %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		out, err := exec.Command(bin, "version").Output()
		if err != nil {
			return s, fmt.Errorf("%s version: %w", bin, err)
		}
		d := b.dst
		d.bin = bin
		d.Version = strings.TrimPrefix(strings.TrimSpace(string(out)), "kuma-agent ")
		debs, _ := filepath.Glob(filepath.Join(dist, "*.deb"))
		rpms, _ := filepath.Glob(filepath.Join(dist, "*.rpm"))
		if len(debs) != 1 || len(rpms) != 1 {
			return s, fmt.Errorf("make package left %v and %v in %s, want one .deb and one .rpm", debs, rpms, dist)
		}
		d.DebName, d.RPMName = filepath.Base(debs[0]), filepath.Base(rpms[0])
		d.Deb = filepath.Join(optDir, b.sub, "dist", d.DebName)
		d.RPM = filepath.Join(optDir, b.sub, "dist", d.RPMName)
		pv, err := exec.Command("dpkg-deb", "-f", debs[0], "Version").Output()
		if err != nil {
			return s, fmt.Errorf("dpkg-deb -f %s: %w", debs[0], err)
		}
		d.PkgVersion = strings.TrimSpace(string(pv))
		for p, size := range map[string]*int64{debs[0]: &d.DebSize, rpms[0]: &d.RPMSize, bin: &d.BinSize} {
			fi, err := os.Stat(p)
			if err != nil {
				return s, err
			}
			*size = fi.Size()
		}
	}
	fake := filepath.Join(dir, "bin", "fake-kuma-core")
	cmd := exec.Command("go", "build", "-o", fake, "./internal/testlab/fakecore")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return s, fmt.Errorf("go build fake-kuma-core: %w\n%s", err, out)
	}
	s.FakeCore = filepath.Join(optDir, "bin", "fake-kuma-core")
	return s, nil
}

// makeEnv is this process's environment without what a calling make (make
// e2e VERSION=...) would pass on to the builds: they must get the tree's
// own version unless told otherwise.
func makeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "VERSION", "PKG_VERSION", "BIN", "DIST":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// node is one container with helpers that fail the test.
type node struct {
	*nspawnlab.Host
	t *testing.T
}

func nodes(t *testing.T, l *nspawnlab.Lab) []node {
	var out []node
	for _, h := range l.Hosts() {
		out = append(out, node{h, t})
	}
	return out
}

// try runs a bash script inside; the output is trimmed.
func (n node) try(script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := n.Exec(ctx, "bash", "-c", script)
	return strings.TrimSpace(string(out)), err
}

// sh runs a bash script inside and fails the test if it fails.
func (n node) sh(script string) string {
	n.t.Helper()
	out, err := n.try(script)
	if err != nil {
		n.t.Fatal(err)
	}
	return out
}

// show reads unit properties with systemctl show.
func (n node) show(unit string, props ...string) map[string]string {
	n.t.Helper()
	out := n.sh("systemctl show " + unit + " -p " + strings.Join(props, ","))
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

func (n node) write(path, body string, mode os.FileMode) {
	n.t.Helper()
	if err := n.WriteFile(path, []byte(body), mode); err != nil {
		n.t.Fatal(err)
	}
}

func (n node) read(path string) string {
	n.t.Helper()
	b, err := n.ReadFile(path)
	if err != nil {
		n.t.Fatal(err)
	}
	return string(b)
}

// install installs or upgrades a package with dpkg -i, rpm -i or rpm -U
// and returns how long it took.
func (n node) install(tool, pkg string) time.Duration {
	n.t.Helper()
	start := time.Now()
	out := n.sh(tool + " " + pkg + " 2>&1")
	d := time.Since(start)
	n.t.Logf("%s: %s %s (%v):\n%s", n.Name(), tool, filepath.Base(pkg), d.Round(time.Millisecond), out)
	return d
}

// agentPID is kuma-agent's main pid, 0 when it is not running.
func (n node) agentPID() int {
	n.t.Helper()
	pid, _ := strconv.Atoi(n.show("kuma-agent.service", "MainPID")["MainPID"])
	return pid
}

// rssKiB is VmRSS of pid inside the container.
func (n node) rssKiB(pid int) int {
	n.t.Helper()
	f := strings.Fields(n.sh(fmt.Sprintf("grep VmRSS /proc/%d/status", pid)))
	if len(f) < 2 {
		n.t.Fatalf("%s: no VmRSS for pid %d", n.Name(), pid)
	}
	kib, _ := strconv.Atoi(f[1])
	return kib
}

// agentRunning reports whether any kuma-agent process lives inside.
func (n node) agentRunning() bool {
	_, err := n.try("pidof kuma-agent")
	return err == nil
}

// eventually polls cond every 100 ms until it holds, failing the test
// with cond's last word after within; it returns how long it took.
func eventually(t *testing.T, what string, within time.Duration, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for {
		ok, state := cond()
		if ok {
			return time.Since(start)
		}
		last = state
		if time.Since(start) > within {
			t.Fatalf("timed out after %v waiting for %s; last: %s", within, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitActive waits until unit is active (a Type=notify unit: READY=1 came).
func (n node) waitActive(unit string, within time.Duration) time.Duration {
	n.t.Helper()
	return eventually(n.t, n.Name()+": "+unit+" active", within, func() (bool, string) {
		p := n.show(unit, "ActiveState", "SubState", "Result")
		return p["ActiveState"] == "active", fmt.Sprint(p)
	})
}

// keygen makes a gossip keyring with the packaged binary.
func keygen(t *testing.T, b build) string {
	t.Helper()
	out, err := exec.Command(b.bin, "keygen").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("kuma-agent keygen: %v: %s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	return string(out)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
