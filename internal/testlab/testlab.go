// Package testlab holds what the test labs (netlab, nspawnlab) and the
// end-to-end tests share: TB, the part of testing.TB they use (so that no
// non-test file imports the testing package), and the checks for what a
// test needs from the machine (NeedRoot, NeedTools), which say in one line
// what is missing and how to get it.
//
// A missing tool fails the test in CI (CI=true: the CI machine runs `make
// deps`, so a missing tool is a broken CI, not a reason to pass) and skips
// it loudly elsewhere. Not being root always skips: CI runs as root, and a
// developer's non-root `make test` is a supported run.
package testlab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// TB is the part of testing.TB the labs use; *testing.T and *testing.B
// satisfy it.
type TB interface {
	Helper()
	Cleanup(func())
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skip(args ...any)
	TempDir() string
}

// Packages maps each tool a test may need to the Debian package that
// provides it; `make deps` installs every one of them (a test checks the
// Makefile's list against this one).
var Packages = map[string]string{
	"ansible-inventory": "ansible-core",
	"ansible-playbook":  "ansible-core",
	"bash":              "bash",
	"chromium":          "chromium",
	"debootstrap":       "debootstrap",
	"dpkg":              "dpkg",
	"dpkg-deb":          "dpkg",
	"etcd":              "etcd-server",
	"etcdctl":           "etcd-client",
	"ip":                "iproute2",
	"lintian":           "lintian",
	"make":              "make",
	"man":               "man-db",
	"nats-server":       "nats-server",
	"nft":               "nftables",
	"nginx":             "nginx-light",
	"nsenter":           "util-linux",
	"promtool":          "prometheus",
	"rpm":               "rpm",
	"rpmlint":           "rpmlint",
	"rsyslogd":          "rsyslog",
	"ssh":               "openssh-client",
	"ssh-keygen":        "openssh-client",
	"systemd-nspawn":    "systemd-container",
	"victoria-metrics":  "victoria-metrics",
	"zsh":               "zsh",
}

// InCI reports whether the tests run in CI (CI=true, as .ci/run sets it
// and CI services do).
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing returns the tools of names that are not in PATH, in the order
// given.
func Missing(names ...string) []string {
	var out []string
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			out = append(out, n)
		}
	}
	return out
}

// MissingLine is the one line that names missing tools and how to get
// them, e.g. "missing tool rpm (Debian package rpm): run `make deps` as
// root".
func MissingLine(missing ...string) string {
	pkgs := map[string]bool{}
	for _, m := range missing {
		if p, ok := Packages[m]; ok {
			pkgs[p] = true
		}
	}
	names := make([]string, 0, len(pkgs))
	for p := range pkgs {
		names = append(names, p)
	}
	sort.Strings(names)
	word, pkgWord := "tool", "package"
	if len(missing) > 1 {
		word = "tools"
	}
	if len(names) > 1 {
		pkgWord = "packages"
	}
	line := "missing " + word + " " + strings.Join(missing, ", ")
	if len(names) > 0 {
		line += " (Debian " + pkgWord + " " + strings.Join(names, ", ") + ")"
	}
	return line + ": run `make deps` as root"
}

// NeedTools stops the test unless every tool is in PATH: it fails in CI
// and skips loudly elsewhere, with one line naming what is missing and the
// command that installs it.
func NeedTools(t TB, tools ...string) {
	t.Helper()
	if m := Missing(tools...); len(m) > 0 {
		Unavailable(t, MissingLine(m...))
	}
}

// sbinDirs are searched after PATH by ToolPath: a non-root user's PATH
// often lacks them, and Debian puts nginx and nats-server there.
var sbinDirs = []string{"/usr/sbin", "/sbin", "/usr/local/sbin"}

// ToolPath returns the path of tool, from PATH or the sbin directories,
// for a test that runs it by that path; without it the test stops as
// with NeedTools.
func ToolPath(t TB, tool string) string {
	t.Helper()
	if p, err := exec.LookPath(tool); err == nil {
		return p
	}
	for _, d := range sbinDirs {
		p := filepath.Join(d, tool)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	Unavailable(t, MissingLine(tool))
	return ""
}

// Unavailable stops the test for a missing prerequisite other than root
// (a tool, the test rootfs): Fatalf in CI, a loud Skip elsewhere.
func Unavailable(t TB, why string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s (CI=true: failing, not skipping)", why)
		return
	}
	t.Skip("SKIP (loud): " + why)
}

// E2EEnv gates the end-to-end scenarios `make e2e` runs (KUMA_E2E=1):
// they take minutes, and `make test` runs the same packages.
const E2EEnv = "KUMA_E2E"

// NeedE2E skips the test, loudly and saying where it runs, unless
// KUMA_E2E is set. what says what the test is. Not a failure in CI: CI's
// `make e2e` sets it, its `make test` must not run the test twice.
func NeedE2E(t TB, what string) {
	t.Helper()
	if os.Getenv(E2EEnv) == "" {
		t.Skip("SKIP (loud): " + what + "; run it with `make e2e` (root, " + E2EEnv + "=1)")
	}
}

// NeedRoot skips the test, loudly and with a reason, unless it runs as
// root. what says what root is for ("network namespaces").
func NeedRoot(t TB, what string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip(fmt.Sprintf("SKIP (loud): needs root for %s; run `make test` as root (CI does)", what))
	}
}
