package inventory

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, data string
		want       []string // substrings of the error
	}{
		{"hosts is a list", "kuma:\n  children:\n    kuma_core:\n      hosts:\n        - a.example.com\n",
			[]string{"f.yml:5: ", "kuma_core.hosts", "mapping", "list"}},
		{"host vars scalar", "kuma_core:\n  hosts:\n    a.example.com: 10.0.0.1\n",
			[]string{"f.yml:3: ", "a.example.com", "host variables must be a mapping", "scalar"}},
		{"group is a list", "kuma:\n  - x\n", []string{"f.yml:2: ", "kuma", "group must be a mapping"}},
		{"unexpected group key", "kuma:\n  host:\n    a.b: {}\n", []string{"f.yml:2: ", "kuma", `unexpected key "host"`}},
		{"vars is a list", "all:\n  vars:\n    - a\n", []string{"f.yml:3: ", "all.vars", "mapping of variables"}},
		{"children is scalar", "kuma:\n  children: x\n", []string{"f.yml:2: ", "kuma.children", "scalar"}},
		{"top level list", "- a\n- b\n", []string{"f.yml:1: ", "top level must be a mapping"}},
		{"empty", "# nothing\n", []string{"f.yml", "empty inventory"}},
		{"no hosts", "all:\n  vars:\n    a: 1\n", []string{"f.yml", "no hosts"}},
		{"key is a mapping", "kuma_core:\n  hosts:\n    ? {a: b}\n    : {}\n", []string{"f.yml:3: ", "key must be a plain name"}},
		{"syntax", "kuma:\n  children: [a,\n", []string{"f.yml:", "invalid YAML"}},
		{"bad merge", "kuma_core:\n  hosts:\n    a.b:\n      <<: 5\n", []string{"f.yml:4: ", "merge key"}},
		{"ini bad pair", "node-1 ansible_ssh_host=1.2.3.4\nnode-2 oops\n", []string{"f.yml:2: ", "node-2", "key=value"}},
		{"ini bad header", "[nodes\nnode-1 a=b\n", []string{"f.yml:1: ", "closing"}},
		{"ini bad section kind", "[nodes:hosts]\nnode-1 a=b\n", []string{"f.yml:1: ", "unknown section kind"}},
		{"ini bad var", "[all:vars]\nnovalue\nnode-1 a=b\n", []string{"f.yml:2: ", "all:vars", "key=value"}},
		{"ini bad child", "[g:children]\na b\n", []string{"f.yml:2: ", "one group name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("f.yml", []byte(tt.data))
			if err == nil {
				t.Fatalf("parsed into %+v", c)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.File != "f.yml" {
				t.Errorf("error %T is not a *ParseError for f.yml", err)
			}
		})
	}
}

// billionLaughs nests n levels of 9 aliases each: 9^n expansions if walked
// naively.
func billionLaughs(n int) string {
	var b strings.Builder
	b.WriteString("x0: &x0 {a.example.com: {ip: 127.0.0.1}}\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "x%d: &x%d [", i, i)
		for j := range 9 {
			if j > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "*x%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func TestPathologicalYAML(t *testing.T) {
	deepGroups := func(n int) string {
		var b strings.Builder
		for i := range n {
			ind := strings.Repeat("  ", 2*i)
			fmt.Fprintf(&b, "%sg%d:\n%s  children:\n", ind, i, ind)
		}
		return b.String()
	}
	tests := []struct{ name, data string }{
		{"alias bomb in vars", "all:\n  vars:\n" + indent(billionLaughs(12), 4) + "kuma_core:\n  hosts:\n    a.b: {ip: 127.0.0.1}\n"},
		{"alias bomb in hosts", "base: &h {hosts: {a.b: {ip: 127.0.0.1}}}\nkuma:\n  children:\n" + aliasChildren(150)},
		{"deep groups", deepGroups(70)},
		{"deep vars", "all:\n  vars:\n    v: " + strings.Repeat("[", 70) + strings.Repeat("]", 70) + "\nkuma_core:\n  hosts:\n    a.b:\n"},
		{"self alias", "a: &a {children: {b: *a}}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("p.yml", []byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), "too many YAML aliases/too deep") || !strings.HasPrefix(err.Error(), "p.yml") {
				t.Fatalf("error = %v, want a p.yml too-many-aliases/too-deep error", err)
			}
			if !errors.Is(err, errBudget) {
				t.Errorf("error does not wrap errBudget")
			}
		})
	}
}

func aliasChildren(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "    c%d: *h\n", i)
	}
	return b.String()
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n"+pad) + "\n"
}

func TestAliasesWithinBudget(t *testing.T) {
	data := `
kuma:
  children:
    kuma_collector:
      hosts:
        c0.example.com: &defaults
          ansible_user: root
          zone: a
        c1.example.com:
          <<: *defaults
          ip: 127.0.0.1
          zone: b
        c2.example.com: *defaults
`
	c, err := Parse("a.yml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	c1, c2 := c.Host("c1.example.com"), c.Host("c2.example.com")
	if c1.Vars["ansible_user"] != "root" || c1.Vars["zone"] != "b" || c1.Address != "127.0.0.1" {
		t.Errorf("c1 vars %v address %q: merge key not applied or explicit key lost", c1.Vars, c1.Address)
	}
	if c2.Vars["zone"] != "a" {
		t.Errorf("c2 vars %v", c2.Vars)
	}
	if len(c.Hosts) != 3 || !c1.Roles.Has(cluster.RoleCollector) {
		t.Errorf("hosts %d, c1 roles %v", len(c.Hosts), c1.Roles)
	}
}

func TestVariableInheritance(t *testing.T) {
	data := `
kuma:
  vars: {v: kuma, k: kuma}
  children:
    kuma_worker:
      vars: {v: worker, w: worker}
      hosts:
        w1.example.com: {v: host, ansible_host: w1.example.com}
        w2.example.com:
          ip: 10.1.1.2
all:
  vars: {v: all, a: all, k: all}
`
	c, err := Parse("v.yml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ host, key, want string }{
		{"w1.example.com", "v", "host"},
		{"w2.example.com", "v", "worker"},
		{"w2.example.com", "w", "worker"},
		{"w2.example.com", "k", "kuma"},
		{"w2.example.com", "a", "all"},
	}
	for _, tt := range tests {
		if got := c.Host(tt.host).Vars[tt.key]; got != tt.want {
			t.Errorf("%s %s = %v, want %s", tt.host, tt.key, got, tt.want)
		}
	}
	w1, w2 := c.Host("w1.example.com"), c.Host("w2.example.com")
	if w1.Address != "w1.example.com" || w1.IP.IsValid() {
		t.Errorf("w1 address %q ip %v: a name is no IP", w1.Address, w1.IP)
	}
	if w2.Address != "10.1.1.2" || w2.IP.String() != "10.1.1.2" {
		t.Errorf("w2 address %q ip %v: ip var not used", w2.Address, w2.IP)
	}
}

func TestINI(t *testing.T) {
	data := `; Acura
# comment
[nodes]
node-1 ansible_ssh_host=10.0.0.1   # first
node-2 ansible_ssh_host="10.0.0.2" note='two words'

[nodes:vars]
ansible_user = ubuntu
zone=a

[cluster:children]
nodes

[cluster:vars]
zone=b
flavour=x
`
	c, err := Parse("ha_env_file", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if c.Layout != cluster.LayoutAcura || len(c.Hosts) != 2 {
		t.Fatalf("layout %s hosts %d", c.Layout, len(c.Hosts))
	}
	n2 := c.Host("node-2")
	if n2.Address != "10.0.0.2" || n2.Line != 5 || n2.Vars["note"] != "two words" {
		t.Errorf("node-2 = %+v", n2)
	}
	n1 := c.Host("node-1")
	// nodes is mentioned before cluster, so its vars win; children inherit.
	if n1.Vars["ansible_user"] != "ubuntu" || n1.Vars["zone"] != "a" || n1.Vars["flavour"] != "x" {
		t.Errorf("node-1 vars %v", n1.Vars)
	}
}

func TestLooksLikeINI(t *testing.T) {
	tests := []struct {
		data string
		ini  bool
	}{
		{"node-1 ansible_ssh_host=1.2.3.4\n", true},
		{"# c\n\n; c\n[all]\n", true},
		{"node-1\n", true},
		{"all:\n  vars: {}\n", false},
		{"---\nall:\n", false},
		{"kuma: {children: {}}\n", false},
		{"node-1 ansible_ssh_host: x\n", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := looksLikeINI([]byte(tt.data)); got != tt.ini {
			t.Errorf("looksLikeINI(%q) = %v, want %v", tt.data, got, tt.ini)
		}
	}
}

func TestLayoutDetection(t *testing.T) {
	tests := []struct {
		name, data string
		want       cluster.Layout
	}{
		{"deploy_to_k8s without k0s hosts", "all:\n  vars: {deploy_to_k8s: true}\nkuma_core:\n  hosts: {a.b: }\n", cluster.LayoutK0s},
		{"deploy_to_k8s quoted", "all:\n  vars: {deploy_to_k8s: \"yes\"}\nkuma_core:\n  hosts: {a.b: }\n", cluster.LayoutK0s},
		{"k0s hosts", "kuma_k0s:\n  children:\n    kuma_worker:\n      hosts: {a.b: }\n", cluster.LayoutK0s},
		{"peers only", "kuma_core:\n  hosts: {a.b: }\nkuma_core_peers:\n  hosts: {c.d: , e.f: }\n", cluster.LayoutExpand},
		{"peers and storage", "kuma_core_peers:\n  hosts: {c.d: , e.f: }\nkuma_storage:\n  hosts: {s.t: }\n", cluster.LayoutDistributed},
		{"one host", "kuma_core:\n  hosts: {a.b: }\nkuma_storage:\n  hosts: {a.b: }\n", cluster.LayoutSingle},
		{"two hosts", "kuma_core:\n  hosts: {a.b: }\nkuma_storage:\n  hosts: {s.t: }\n", cluster.LayoutDistributed},
	}
	for _, tt := range tests {
		c, err := Parse("l.yml", []byte(tt.data))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if c.Layout != tt.want {
			t.Errorf("%s: layout %s, want %s", tt.name, c.Layout, tt.want)
		}
	}
}

// endless is a file that never ends, like /dev/zero.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	e.n += int64(len(p))
	return len(p), nil
}
func (e *endless) Close() error { return nil }

func TestSizeCap(t *testing.T) {
	t.Run("endless file", func(t *testing.T) {
		src := &endless{}
		l := Loader{Open: func(string) (io.ReadCloser, error) { return src, nil }, MaxBytes: 1000}
		_, err := l.Load("zero")
		if err == nil || !strings.Contains(err.Error(), "zero: file is larger than 1000 bytes") {
			t.Fatalf("error = %v", err)
		}
		if src.n > 1000+64<<10 {
			t.Errorf("read %d bytes for a 1000-byte cap", src.n)
		}
	})
	t.Run("real file over 4 MiB", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "huge.yml")
		if err := os.WriteFile(path, []byte(strings.Repeat("#", MaxFileSize+1)), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("at the cap is read", func(t *testing.T) {
		data := "kuma_core:\n  hosts:\n    a.example.com:\n"
		data += strings.Repeat("#", 200-len(data))
		l := Loader{Open: func(string) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(data)), nil }, MaxBytes: 200}
		if _, err := l.Load("ok.yml"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "nope.yml"))
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.yml") {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("not a regular file", func(t *testing.T) {
		dir := t.TempDir()
		_, err := Load(dir)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.File != dir || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("too many nodes", func(t *testing.T) {
		data := "kuma_core:\n  hosts:\n    a.b: {v: [" + strings.Repeat("1,", maxNodes) + "1]}\n"
		_, err := Parse("n.yml", []byte(data))
		if !errors.Is(err, errBudget) {
			t.Fatalf("error = %v", err)
		}
	})
}
