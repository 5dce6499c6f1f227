package testlab

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fakeTB records how a check stopped the test.
type fakeTB struct {
	testing.TB  // nil: a method the checks do not use panics
	fatal, skip string
}

func (f *fakeTB) Helper()                           {}
func (f *fakeTB) Fatalf(format string, args ...any) { f.fatal = fmt.Sprintf(format, args...) }
func (f *fakeTB) Skip(args ...any)                  { f.skip = fmt.Sprint(args...) }

const absent = "kuma-no-such-tool-xyz"

func TestNeedToolsFailsInCISkipsElsewhere(t *testing.T) {
	t.Setenv("CI", "")
	f := &fakeTB{}
	NeedTools(f, "sh", absent)
	if f.fatal != "" || !strings.HasPrefix(f.skip, "SKIP (loud): missing tool "+absent+":") || !strings.Contains(f.skip, "make deps") {
		t.Errorf("outside CI: fatal %q, skip %q; want a loud skip naming the tool and `make deps`", f.fatal, f.skip)
	}
	t.Setenv("CI", "true")
	f = &fakeTB{}
	NeedTools(f, absent)
	if f.skip != "" || !strings.Contains(f.fatal, "missing tool "+absent) || !strings.Contains(f.fatal, "make deps") {
		t.Errorf("in CI: fatal %q, skip %q; want a failure naming the tool and `make deps`", f.fatal, f.skip)
	}
	f = &fakeTB{}
	NeedTools(f, "sh")
	if f.fatal != "" || f.skip != "" {
		t.Errorf("sh is there: fatal %q, skip %q", f.fatal, f.skip)
	}
}

func TestToolPath(t *testing.T) {
	t.Setenv("PATH", "/nonexistent")
	f := &fakeTB{}
	if p := ToolPath(f, "sh"); p != "" || f.skip == "" && f.fatal == "" {
		t.Errorf("sh outside PATH and sbin: %q, fatal %q, skip %q", p, f.fatal, f.skip)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "kuma-tool")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	old := sbinDirs
	sbinDirs = []string{dir}
	defer func() { sbinDirs = old }()
	f = &fakeTB{}
	if p := ToolPath(f, "kuma-tool"); p != bin || f.skip != "" || f.fatal != "" {
		t.Errorf("tool in an sbin dir: %q, fatal %q, skip %q", p, f.fatal, f.skip)
	}
	t.Setenv("PATH", dir)
	sbinDirs = nil
	if p := ToolPath(f, "kuma-tool"); p != bin {
		t.Errorf("tool in PATH: %q", p)
	}
}

func TestMissingLine(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{[]string{"rpm"}, "missing tool rpm (Debian package rpm): run `make deps` as root"},
		{[]string{"dpkg-deb", "dpkg"}, "missing tools dpkg-deb, dpkg (Debian package dpkg): run `make deps` as root"},
		{[]string{"systemd-nspawn", "ip"}, "missing tools systemd-nspawn, ip (Debian packages iproute2, systemd-container): run `make deps` as root"},
		{[]string{absent}, "missing tool " + absent + ": run `make deps` as root"},
	} {
		if got := MissingLine(c.in...); got != c.want {
			t.Errorf("MissingLine(%q)\n got %s\nwant %s", c.in, got, c.want)
		}
	}
	if strings.Contains(MissingLine("rpm", "nft"), "\n") {
		t.Error("not one line")
	}
}

// repoRoot is the module root, two levels up from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal(err)
	}
	return root
}

// makeVar is the value of a `NAME := ...` or `NAME = ...` line of the
// Makefile, continuation lines joined.
func makeVar(t *testing.T, makefile, name string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s*:?=((?:.*\\\n)*.*)$`).FindStringSubmatch(makefile)
	if m == nil {
		t.Fatalf("Makefile: no %s", name)
	}
	return strings.Fields(strings.ReplaceAll(m[1], "\\\n", " "))
}

// Every tool a test may ask for comes with `make deps`, and every tool the
// Makefile's targets check for is one testlab knows the package of.
func TestMakeDepsInstallsEveryTool(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	mk := string(b)
	deps := makeVar(t, mk, "DEPS_PACKAGES")
	// On every Debian machine `make deps` can run on: bash, dpkg and
	// util-linux are essential, make runs `make deps` itself.
	essential := []string{"bash", "dpkg", "util-linux", "make"}
	for tool, pkg := range Packages {
		if !slices.Contains(deps, pkg) && !slices.Contains(essential, pkg) {
			t.Errorf("tool %s: Debian package %s is not in the Makefile's DEPS_PACKAGES %v", tool, pkg, deps)
		}
	}
	for _, v := range []string{"TEST_ROOT_TOOLS", "E2E_TOOLS", "PACKAGE_LINT_TOOLS"} {
		for _, tool := range makeVar(t, mk, v) {
			if strings.HasPrefix(tool, "$(") {
				continue
			}
			if _, ok := Packages[tool]; !ok {
				t.Errorf("Makefile %s names %s: add it to testlab.Packages", v, tool)
			}
		}
	}
}

// No non-test Go file imports "testing": test helpers that outlive a
// _test.go file take a TB (this package's interface) instead.
func TestNoTestingImportOutsideTests(t *testing.T) {
	root := repoRoot(t)
	fset := token.NewFileSet()
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin" || name == "dist") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		n++
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == "testing" {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s imports \"testing\" outside a _test.go file: take a testlab.TB", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 50 {
		t.Fatalf("only %d Go files under %s: wrong root?", n, root)
	}
}
