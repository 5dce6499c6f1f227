package packages

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/testlab"
)

// pkgVersion runs packaging/pkgversion.sh outside any git repository, so
// that a hash is judged by its form alone and gets no commit date.
func pkgVersion(t *testing.T, v string) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(root, "packaging", "pkgversion.sh"), v)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PATH=/usr/bin:/bin", "GIT_CEILING_DIRECTORIES=/"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pkgversion.sh %q: %v", v, err)
	}
	return strings.TrimSpace(string(out))
}

// TestPackageVersion: git describe output becomes a version dpkg and rpm
// accept (no '-').
func TestPackageVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3":                  "1.2.3",
		"v1.2.3-dirty":            "1.2.3+dirty",
		"v1.2.3-4-gabc1234":       "1.2.3+git4.abc1234",
		"v1.2.3-4-gabc1234-dirty": "1.2.3+git4.abc1234.dirty",
		"v1.2.3-rc.1":             "1.2.3~rc.1",
		"v1.2.3-rc.1-4-gabc1234":  "1.2.3~rc.1+git4.abc1234",
		"abc1234":                 "0.0.0~gitabc1234",
		"abc1234-dirty":           "0.0.0~gitabc1234+dirty",
		"abc1234-dirty+next":      "0.0.0~gitabc1234+dirty+next",
		"0.0.0-dev":               "0.0.0~dev",
		"release_2":               "0.0.0~release.2",
		"20261123":                "20261123", // digits only: a tag, without git to ask
		"v2.0.0+build/7":          "2.0.0+build.7",
		"e9fa198d0c1f2e3a4b5c6d7e8f9a0b1c2d3e4f5a": "0.0.0~gite9fa198d0c1f2e3a4b5c6d7e8f9a0b1c2d3e4f5a",
	} {
		if got := pkgVersion(t, in); got != want {
			t.Errorf("pkgversion.sh %q = %q, want %q", in, got, want)
		}
	}
}

// TestPackageVersionOrder: the versions sort as git's do, for dpkg and for
// rpm (both on this machine: `make deps`).
func TestPackageVersionOrder(t *testing.T) {
	testlab.NeedTools(t, "dpkg", "rpm")
	// Each is older than the next, for dpkg and for rpm.
	order := []string{"0.0.0-dev", "abc1234", "abc1234-dirty", "abc1234-dirty+next", "v1.2.3-rc.1",
		"v1.2.3-rc.1-4-gabc1234", "v1.2.3", "v1.2.3-dirty", "v1.2.3-4-gabc1234", "v1.2.3-4-gabc1234-dirty",
		"v1.2.3-10-gdef5678", "v1.10.0"}
	for i := 1; i < len(order); i++ {
		a, b := pkgVersion(t, order[i-1]), pkgVersion(t, order[i])
		if err := exec.Command("dpkg", "--compare-versions", a, "lt", b).Run(); err != nil {
			t.Errorf("dpkg: %s (%s) is not older than %s (%s)", a, order[i-1], b, order[i])
		}
		out, err := exec.Command("rpm", "--eval", fmt.Sprintf("%%{lua: print(rpm.vercmp(%q, %q))}", a, b)).Output()
		if err != nil || strings.TrimSpace(string(out)) != "-1" {
			t.Errorf("rpm: %s (%s) is not older than %s (%s): %s %v", a, order[i-1], b, order[i], out, err)
		}
	}
}
