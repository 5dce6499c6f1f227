package packages

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kuma-agent/kuma-agent/internal/testlab"
)

// readPackaging reads a file of packaging/.
func readPackaging(t *testing.T, rel string) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "packaging", rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Every lintian override and rpmlint filter comes with its reason: a
// comment directly above it (`make package-lint` takes them as they are).
func TestEveryLintOverrideHasItsReason(t *testing.T) {
	for _, f := range []struct{ file, prefix string }{
		{"lint/lintian-overrides", "kuma-agent: "},
		{"lint/rpmlintrc", "addFilter("},
	} {
		lines := strings.Split(readPackaging(t, f.file), "\n")
		n := 0
		for i, l := range lines {
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			if !strings.HasPrefix(l, f.prefix) {
				t.Errorf("%s:%d: %q is neither a comment nor an override", f.file, i+1, l)
				continue
			}
			n++
			if i == 0 || !strings.HasPrefix(lines[i-1], "#") && !strings.HasPrefix(lines[i-1], f.prefix) {
				t.Errorf("%s:%d: %q has no reason (a comment above it)", f.file, i+1, l)
			}
		}
		if n == 0 {
			t.Errorf("%s: no overrides read", f.file)
		}
	}
}

// packaging/changelog.yaml, the one source of both changelogs, has what
// nfpm needs of every entry, newest first.
func TestChangelogSource(t *testing.T) {
	var entries []struct {
		Semver   string    `yaml:"semver"`
		Date     time.Time `yaml:"date"`
		Packager string    `yaml:"packager"`
		Deb      struct {
			Urgency       string   `yaml:"urgency"`
			Distributions []string `yaml:"distributions"`
		} `yaml:"deb"`
		Changes []struct {
			Note string `yaml:"note"`
		} `yaml:"changes"`
	}
	if err := yaml.Unmarshal([]byte(readPackaging(t, "changelog.yaml")), &entries); err != nil {
		t.Fatalf("packaging/changelog.yaml: %v", err)
	}
	if len(entries) == 0 {
		t.Fatal("packaging/changelog.yaml: no entries")
	}
	for i, e := range entries {
		if e.Semver == "" || e.Date.IsZero() || !strings.Contains(e.Packager, "@") || len(e.Changes) == 0 ||
			e.Deb.Urgency == "" || len(e.Deb.Distributions) == 0 {
			t.Errorf("entry %d (%s): want semver, date, packager with an address, changes and deb urgency/distributions", i, e.Semver)
		}
		for _, c := range e.Changes {
			// lintian: debian-changelog-line-too-long past 80 ("  * " first).
			if len(c.Note)+4 > 80 || strings.Contains(c.Note, "\n") {
				t.Errorf("entry %s: note %q: one line of at most 76 characters", e.Semver, c.Note)
			}
		}
		if i > 0 {
			testlab.NeedTools(t, "dpkg", "rpm")
			newer(t, entries[i-1].Semver, e.Semver)
		}
	}
}
