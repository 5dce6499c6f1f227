package yamlstrict

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sample is a schema as config and alerts have them: nested structs, a
// list of structs, a map of structs, a custom type.
type sample struct {
	Name  string                 `yaml:"name"`
	Port  int                    `yaml:"port"`
	Wait  time.Duration          `yaml:"wait"`
	Inner struct{ A, B int }     `yaml:"inner"`
	Rules []sampleRule           `yaml:"rules"`
	Acts  map[string]*sampleRule `yaml:"actions"`
	Skip  string                 `yaml:"-"`
}

type sampleRule struct {
	ID         string `yaml:"id"`
	sampleBase `yaml:",inline"`
}

type sampleBase struct {
	Tags []string `yaml:"tags"`
}

var strict = Options{Kind: "sample", TopLevel: "keys (name:, port:)"}

// located asserts err is an Errors whose problems include one at file:line
// with key and a message containing msg.
func located(t *testing.T, err error, file string, line int, key, msg string) {
	t.Helper()
	var es Errors
	if !errors.As(err, &es) || len(es) == 0 {
		t.Fatalf("error %T %v is not Errors", err, err)
	}
	for _, e := range es {
		if e.File == file && e.Line == line && e.Key == key && strings.Contains(e.Msg, msg) {
			return
		}
	}
	t.Errorf("want %s:%d: %s: ~%q; got:\n%v", file, line, key, msg, err)
}

func TestErrorFormat(t *testing.T) {
	for _, c := range []struct {
		e    Error
		want string
	}{
		{Error{File: "a.yaml", Line: 3, Key: "checks.ntp", Msg: "bad"}, "a.yaml:3: checks.ntp: bad"},
		{Error{File: "a.yaml", Msg: "bad"}, "a.yaml: bad"},
		{Error{File: "a.yaml", Key: "k", Msg: "bad"}, "a.yaml: k: bad"},
	} {
		if got := c.e.Error(); got != c.want {
			t.Errorf("%+v = %q, want %q", c.e, got, c.want)
		}
	}
	var es Errors
	if es.Err() != nil {
		t.Error("no problems is not nil")
	}
	es.Add("f", 1, "a", "one %d", 1)
	es = append(es, &Error{File: "f", Line: 2, Msg: "two", Err: ErrBudget})
	if got := es.Err().Error(); got != "f:1: a: one 1\nf:2: two" {
		t.Errorf("Errors = %q", got)
	}
	var one *Error
	if !errors.As(es.Err(), &one) || one.Line != 1 {
		t.Errorf("errors.As(*Error) = %v", one)
	}
	if !errors.Is(es, ErrBudget) || errors.Is(es, ErrTooLarge) {
		t.Error("errors.Is does not see the causes of an Errors")
	}
	if err := Errorf("f", 7, "k", "x %s", "y"); err.Error() != "f:7: k: x y" {
		t.Errorf("Errorf = %q", err)
	}
}

func TestReadFileSizeCap(t *testing.T) {
	dir := t.TempDir()
	o := Options{Kind: "sample", MaxBytes: 100}
	at := filepath.Join(dir, "at.yaml")
	over := filepath.Join(dir, "over.yaml")
	if err := os.WriteFile(at, []byte(strings.Repeat("#", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(over, []byte(strings.Repeat("#", 101)), 0o600); err != nil {
		t.Fatal(err)
	}
	if data, err := o.ReadFile(at); err != nil || len(data) != 100 {
		t.Errorf("a file at the cap: %d bytes, %v", len(data), err)
	}
	_, err := o.ReadFile(over)
	if !errors.Is(err, ErrTooLarge) || !strings.HasPrefix(err.Error(), over+": file is larger than 100 bytes") {
		t.Errorf("a file over the cap: %v", err)
	}
	located(t, err, over, 0, "", "the limit for sample files")
	// An injected source that never ends is read only up to the cap.
	src := &endless{}
	o.Open = func(string) (io.ReadCloser, error) { return src, nil }
	if _, err := o.ReadFile("zero"); !errors.Is(err, ErrTooLarge) || src.n > 100+64<<10 {
		t.Errorf("endless source: %v after %d bytes", err, src.n)
	}
	// Parse caps data handed to it directly the same way.
	if _, err := o.Parse("big", make([]byte, 101)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Parse over the cap: %v", err)
	}
}

type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) { e.n += len(p); return len(p), nil }
func (e *endless) Close() error               { return nil }

func TestReadFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := strict.ReadFile(path)
	if !errors.Is(err, fs.ErrNotExist) || err.Error() != "sample: open "+path+": no such file or directory" {
		t.Errorf("missing file: %v", err)
	}
}

// A FIFO named as a file used to block in open(2) until a writer came: it
// is refused at once.
func TestReadFileRefusesFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := strict.ReadFile(path)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) {
			t.Fatalf("FIFO: %v, want ErrNotRegular", err)
		}
		located(t, err, path, 0, "", "is a FIFO (named pipe), not a regular file")
	case <-time.After(5 * time.Second):
		// Unblock the reader so the test binary can exit.
		if w, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		t.Fatal("ReadFile blocked on a FIFO")
	}
}

// OpenRegular's second look, at the opened file, refuses a FIFO too (one
// swapped in after the Stat), without blocking thanks to O_NONBLOCK.
func TestOpenRegularChecksTheOpenedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatalf("a non-blocking open of a FIFO: %v", err)
	}
	f.Close()
	for _, p := range []string{t.TempDir(), os.DevNull} {
		_, err := strict.ReadFile(p)
		if !errors.Is(err, ErrNotRegular) || !strings.HasPrefix(err.Error(), p+": is a ") {
			t.Errorf("%s: %v", p, err)
		}
	}
	// A symlink to a regular file is read.
	target := filepath.Join(t.TempDir(), "real.yaml")
	link := filepath.Join(t.TempDir(), "link.yaml")
	if err := os.WriteFile(target, []byte("name: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if data, err := strict.ReadFile(link); err != nil || string(data) != "name: x\n" {
		t.Errorf("symlink: %q %v", data, err)
	}
}

func TestParseDocuments(t *testing.T) {
	for _, in := range []string{"", "# only a comment\n", "---\n", "~\n", "---\n...\n"} {
		doc, err := strict.Parse("e.yaml", []byte(in))
		if err != nil || doc.Body != nil {
			t.Errorf("%q: body %v, %v; want an empty document", in, doc, err)
		}
	}
	_, err := strict.Parse("two.yaml", []byte("name: a\n---\nname: b\n"))
	located(t, err, "two.yaml", 2, "", "more than one YAML document")
	_, err = strict.Parse("two.yaml", []byte("name: a\n---\n"))
	located(t, err, "two.yaml", 2, "", "more than one YAML document")
	_, err = strict.Parse("bad2.yaml", []byte("name: a\n---\n[\n"))
	located(t, err, "bad2.yaml", 3, "", "invalid YAML")
	_, err = strict.Parse("top.yaml", []byte("- a\n- b\n"))
	located(t, err, "top.yaml", 1, "", "the top level must be a mapping of keys (name:, port:), got a list")
	_, err = strict.Parse("top.yaml", []byte("just text\n"))
	located(t, err, "top.yaml", 1, "", "got a scalar")
}

func TestParseSyntaxErrorLine(t *testing.T) {
	// yaml.v3 names the line where the block starts; the culprit is later.
	data := "a:\n  b: 1\n  c: 2\n  d: [1,\n  e: 3\n"
	_, err := strict.Parse("s.yaml", []byte(data))
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 || !strings.Contains(es[0].Msg, "invalid YAML") || es[0].Line < 4 {
		t.Fatalf("syntax error: %v", err)
	}
}

func TestParseAliases(t *testing.T) {
	data := []byte("base: &b {port: 1}\nother: *b\n")
	_, err := strict.Parse("a.yaml", data)
	located(t, err, "a.yaml", 2, "", "YAML aliases (*name) are not allowed in sample files")
	// An anchor alone is harmless.
	if _, err := strict.Parse("a.yaml", []byte("name: &n x\n")); err != nil {
		t.Errorf("anchor without alias: %v", err)
	}

	allow := Options{Kind: "inventory", Aliases: &AliasBudget{MaxAliases: 3, MaxVisits: 100}}
	doc, err := allow.Parse("a.yaml", data)
	if err != nil {
		t.Fatalf("aliases allowed: %v", err)
	}
	other := doc.Body.Content[3]
	n, err := doc.Resolve(other)
	if err != nil || n.Kind != doc.Body.Content[1].Kind || n != doc.Body.Content[1] {
		t.Fatalf("Resolve = %v, %v", n, err)
	}
	for range 2 {
		if _, err := doc.Resolve(other); err != nil {
			t.Fatal(err)
		}
	}
	_, err = doc.Resolve(other)
	if !errors.Is(err, ErrBudget) {
		t.Fatalf("fourth alias: %v", err)
	}
	located(t, err, "a.yaml", 2, "", "too many YAML aliases/too deep: more than 3 aliases")

	visits := Options{Aliases: &AliasBudget{MaxAliases: 10, MaxVisits: 2}}
	doc, err = visits.Parse("v.yaml", []byte("a: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		_, err = doc.Resolve(doc.Body)
		if (i < 2) != (err == nil) {
			t.Fatalf("visit %d: %v", i+1, err)
		}
	}
	if !errors.Is(err, ErrBudget) || !strings.Contains(err.Error(), "expands to more than 2 nodes") {
		t.Errorf("visits: %v", err)
	}
}

func TestParseBudget(t *testing.T) {
	deep := "a: " + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + "\n"
	if _, err := strict.Parse("d.yaml", []byte(deep)); !errors.Is(err, ErrBudget) || !strings.Contains(err.Error(), "nested more than 32 levels") {
		t.Errorf("33 levels: %v", err)
	}
	ok := "a: " + strings.Repeat("[", MaxDepth-1) + strings.Repeat("]", MaxDepth-1) + "\n"
	if _, err := strict.Parse("d.yaml", []byte(ok)); err != nil {
		t.Errorf("32 levels: %v", err)
	}
	wide := Options{MaxNodes: 100}
	_, err := wide.Parse("n.yaml", []byte("a: ["+strings.Repeat("1,", 100)+"1]\n"))
	if !errors.Is(err, ErrBudget) || !strings.HasPrefix(err.Error(), "n.yaml: too big: about ") {
		t.Errorf("node estimate: %v", err)
	}
}

func TestDecodeKnownFields(t *testing.T) {
	data := `name: x
port: many
wait: soon
inner: {a: 1, c: 2}
rules:
  - id: r
    tags: [a]
    idd: s
actions:
  h: {id: x, tag: y}
bogus: 1
`
	doc, err := strict.Parse("k.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	var v sample
	err = doc.Decode(&v)
	located(t, err, "k.yaml", 2, "port", "cannot unmarshal !!str `many`")
	located(t, err, "k.yaml", 3, "wait", "time.Duration")
	located(t, err, "k.yaml", 4, "inner.c", "unknown key (valid here: a, b)")
	located(t, err, "k.yaml", 8, "rules[0].idd", "unknown key (valid here: id, tags)")
	located(t, err, "k.yaml", 10, "actions.h.tag", "unknown key (valid here: id, tags)")
	located(t, err, "k.yaml", 11, "bogus", "unknown key (valid here: actions, inner, name, port, rules, wait)")

	// Defaults set before Decode survive what the file leaves out.
	doc, err = strict.Parse("ok.yaml", []byte("name: y\n"))
	if err != nil {
		t.Fatal(err)
	}
	v = sample{Port: 7}
	if err := doc.Decode(&v); err != nil || v.Name != "y" || v.Port != 7 {
		t.Errorf("decode over defaults: %+v %v", v, err)
	}
	if !doc.Index().Has("name") || doc.Index().Has("port") {
		t.Error("index of the document")
	}
	// An empty document decodes to nothing.
	doc, _ = strict.Parse("e.yaml", nil)
	if err := doc.Decode(&v); err != nil || v.Name != "y" {
		t.Errorf("empty document: %+v %v", v, err)
	}
}

func TestValidKeys(t *testing.T) {
	typ := reflect.TypeOf(&sample{})
	for path, want := range map[string][]string{
		"":                {"actions", "inner", "name", "port", "rules", "wait"},
		"rules[3]":        {"id", "tags"},
		"actions.h":       {"id", "tags"},
		"inner":           {"a", "b"},
		"name":            nil,
		"nothing":         nil,
		"rules[0][1]":     nil,
		"actions.h.tags":  nil,
		"rules[0].id.foo": nil,
	} {
		if got := ValidKeys(typ, path); !slices.Equal(got, want) {
			t.Errorf("ValidKeys(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestIndexNear(t *testing.T) {
	idx := IndexKeys(parse(t, "actions:\n  p:\n    type: command\nrules:\n  - name: r\n"))
	for path, line := range map[string]int{
		"actions.p.command": 2, "actions.p.type": 3, "actions.q.url": 1, "rules[0].match.types[0]": 5, "nothing": 0, "": 0,
	} {
		if got := idx.Near(path); got != line {
			t.Errorf("Near(%q) = %d, want %d", path, got, line)
		}
	}
}

// FuzzPipeline: whatever the input, Parse and Decode end in a value or in
// located Errors naming the file; never a panic, never a hang.
func FuzzPipeline(f *testing.F) {
	for _, s := range []string{
		"name: x\nport: 1\nrules: [{id: a, tags: [t]}]\nactions: {h: {id: b}}\n",
		"name: a\n---\nname: b\n",
		"a: &a [*a, *a]\n",
		"a: &x {b: *x}\n",
		"- 1\n- 2\n",
		"a:\n  b: 1\n   c: 2\n",
		"port: many\nbogus: 1\n",
		strings.Repeat("[", 40) + strings.Repeat("]", 40),
		"",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, aliases bool) {
		o := Options{Kind: "fuzz", MaxBytes: 64 << 10}
		if aliases {
			o.Aliases = &AliasBudget{MaxAliases: 100, MaxVisits: 1 << 16}
		}
		check := func(err error) {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %T %v is not Errors", err, err)
			}
			for _, e := range es {
				if e.File != "fuzz.yaml" || !strings.HasPrefix(e.Error(), "fuzz.yaml") {
					t.Fatalf("error does not name the file: %q", e.Error())
				}
			}
		}
		doc, err := o.Parse("fuzz.yaml", data)
		if err != nil {
			check(err)
			return
		}
		if doc.Body != nil && (doc.Body.Kind != 4 || len(doc.Body.Content)%2 != 0) {
			t.Fatalf("body is no mapping: %v", doc.Body.Kind)
		}
		var v sample
		if err := doc.Decode(&v); err != nil {
			check(err)
		}
		_ = fmt.Sprint(doc.Index().Paths())
	})
}
