package yamlstrict

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func parse(t *testing.T, s string) *yaml.Node {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(s), &n); err != nil {
		t.Fatal(err)
	}
	return &n
}

func TestIndexKeys(t *testing.T) {
	doc := parse(t, `checks:
  ntp:
    servers: [a, b]
    timeout: 2s
roles:
  - core
  - lb
actions: {h: {type: webhook, url: x}}
`)
	idx := IndexKeys(doc)
	for path, line := range map[string]int{
		"checks": 1, "checks.ntp": 2, "checks.ntp.servers": 3, "checks.ntp.servers[1]": 3, "checks.ntp.timeout": 4,
		"roles": 5, "roles[0]": 6, "roles[1]": 7, "actions.h.url": 8,
	} {
		if got := idx.Line(path); got != line {
			t.Errorf("Line(%q) = %d, want %d", path, got, line)
		}
		if !idx.Has(path) {
			t.Errorf("Has(%q) = false", path)
		}
	}
	if idx.Has("checks.disk") || idx.Line("checks.disk") != 0 {
		t.Error("an absent key is indexed")
	}
	if got := idx.KeyAt(4); got != "checks.ntp.timeout" {
		t.Errorf("KeyAt(4) = %q", got)
	}
	// Flow style: several keys on line 8; the first, or the one asked for.
	if got := idx.KeyAt(8); got != "actions" {
		t.Errorf("KeyAt(8) = %q, want the first key on the line", got)
	}
	if got := idx.KeyOn(8, "url", ""); got != "actions.h.url" {
		t.Errorf("KeyOn(8, url) = %q", got)
	}
	if got := idx.KeyOn(8, "", "webhook"); got != "actions.h.type" {
		t.Errorf("KeyOn(8, value webhook) = %q", got)
	}
	if got := idx.KeyOn(99, "x", ""); got != "" {
		t.Errorf("KeyOn on an empty line = %q", got)
	}
	paths := idx.Paths()
	slices.Sort(paths)
	if len(paths) != 13 || !slices.Contains(paths, "roles[1]") {
		t.Errorf("Paths = %v", paths)
	}
	// The body indexes the same as its document.
	if got := IndexKeys(Body(doc)).Line("roles[1]"); got != 7 {
		t.Errorf("from the body: Line(roles[1]) = %d", got)
	}
}

func TestIndexDepthBounded(t *testing.T) {
	deep := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	idx := IndexKeys(parse(t, "a: "+deep+"\n"))
	if idx.Has("a" + strings.Repeat("[0]", MaxDepth+1)) {
		t.Error("indexed deeper than MaxDepth")
	}
}

func TestBodyAndFirstAlias(t *testing.T) {
	if Body(&yaml.Node{Kind: yaml.DocumentNode}) != nil {
		t.Error("Body of an empty document is not nil")
	}
	doc := parse(t, "a: &x 1\nb:\n  c: *x\n")
	if line, found := FirstAlias(doc); !found || line != 3 {
		t.Errorf("FirstAlias = %d, %v; want line 3", line, found)
	}
	if _, found := FirstAlias(parse(t, "a: 1\n")); found {
		t.Error("an alias found in a file without one")
	}
	if _, found := FirstAlias(nil); found {
		t.Error("an alias in nil")
	}
}

func TestMessages(t *testing.T) {
	if n, rest, ok := SplitLine("yaml: line 7: did not find expected key"); !ok || n != 7 || rest != "did not find expected key" {
		t.Errorf("SplitLine = %d %q %v", n, rest, ok)
	}
	if n, rest, ok := SplitLine("line 12: field bogus not found in type config.Config"); !ok || n != 12 || rest != "field bogus not found in type config.Config" {
		t.Errorf("SplitLine = %d %q %v", n, rest, ok)
	}
	if _, _, ok := SplitLine("unexpected end of stream"); ok {
		t.Error("SplitLine found a line in a message without one")
	}
	if f, ok := UnknownField("field bogus not found in type alerts.Rule"); !ok || f != "bogus" {
		t.Errorf("UnknownField = %q %v", f, ok)
	}
	if _, ok := UnknownField("cannot unmarshal !!str `x` into int"); ok {
		t.Error("UnknownField matched a type error")
	}
	if e := syntaxError("f.yaml", nil, errors.New("yaml: line 3: mapping values are not allowed in this context")); e.Line != 3 || e.Msg != "invalid YAML: mapping values are not allowed in this context" {
		t.Errorf("syntaxError = %d %q", e.Line, e.Msg)
	}
	if e := syntaxError("f.yaml", nil, errors.New("yaml: control characters are not allowed")); e.Line != 0 || e.Msg != "invalid YAML: control characters are not allowed" {
		t.Errorf("syntaxError = %d %q", e.Line, e.Msg)
	}
}
