package inventory

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// TestParseErrors: what leaves nothing to check is an error naming file
// and line; a structural mistake read past is among them when it is why
// no host is left.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, data string
		want       []string // substrings of the error
	}{
		{"group is a list", "kuma:\n  - x\n", []string{"f.yml:2: ", "group `kuma` is a list", "Ansible skips it", "no hosts"}},
		{"unexpected group key", "kuma:\n  host:\n    a.b: {}\n", []string{"f.yml:2: ", "`kuma.host`", "only vars, children and hosts", "no hosts"}},
		{"vars is a list", "all:\n  vars:\n    - a\n", []string{"f.yml:3: ", "`all.vars` is a list", "Ansible refuses the file"}},
		{"hosts is a list", "kuma:\n  children:\n    kuma_core:\n      hosts:\n        - a.example.com\n",
			[]string{"f.yml:5: ", "`kuma_core.hosts` is a list", "Ansible refuses the file"}},
		{"top level list", "- a\n- b\n", []string{"f.yml:1: ", "top level must be a mapping"}},
		{"empty", "# nothing\n", []string{"f.yml", "empty inventory"}},
		{"no hosts", "all:\n  vars:\n    a: 1\n", []string{"f.yml", "no hosts"}},
		{"key is a mapping", "kuma_core:\n  hosts:\n    ? {a: b}\n    : {}\n", []string{"f.yml:3: ", "is a mapping, not a plain name"}},
		{"children loop", "a: &a {children: {b: *a}}\n", []string{"p.yml:1: ", "makes a loop", "no hosts"}},
		{"range bomb", "kuma_core:\n  hosts:\n    h[0:99999999].b:\n", []string{"f.yml:3: ", "adds more than 10000 hosts"}},
		{"syntax", "kuma:\n  children: [a,\n", []string{"f.yml:", "invalid YAML"}},
		{"ini bad pair", "node-1 ansible_ssh_host=1.2.3.4\nnode-2 oops\n", []string{"f.yml:2: ", "node-2", "key=value"}},
		{"ini bad header", "[nodes\nnode-1 a=b\n", []string{"f.yml:1: ", "closing"}},
		{"ini bad section kind", "[nodes:hosts]\nnode-1 a=b\n", []string{"f.yml:1: ", "unknown section kind"}},
		{"ini bad var", "[all:vars]\nnovalue\nnode-1 a=b\n", []string{"f.yml:2: ", "all:vars", "key=value"}},
		{"ini bad child", "[g:children]\na b\n", []string{"f.yml:2: ", "one group name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := "f.yml"
			if strings.HasPrefix(tt.want[0], "p.yml") {
				file = "p.yml"
			}
			c, err := Parse(file, []byte(tt.data))
			if err == nil {
				t.Fatalf("parsed into %+v", c)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.File != file {
				t.Errorf("error %T is not a *ParseError for %s", err, file)
			}
		})
	}
}

// TestParseProblems: mistakes Ansible reads past, or that leave the rest
// of the file readable, are findings; the rest of the file is still read.
func TestParseProblems(t *testing.T) {
	const other = "kuma_collector:\n  hosts:\n    c.example.com:\n"
	tests := []struct {
		name, data string
		code       string
		warning    bool
		line       int
		host       string
		msg        []string
		hosts      int // hosts read
	}{
		{"host vars scalar", "kuma_core:\n  hosts:\n    a.example.com: 10.0.0.1\n", "host-vars-not-mapping", false, 3, "a.example.com",
			[]string{"a scalar, not a mapping", "Ansible refuses the file"}, 1},
		{"bad merge", "kuma_core:\n  hosts:\n    a.b:\n      <<: 5\n", "merge-key-invalid", false, 4, "a.b",
			[]string{"merge key (<<)", "the host's variables", "got a scalar"}, 1},
		{"duplicate host variable", "kuma_core:\n  hosts:\n    a.example.com: {ip: 10.0.0.1, ip: 10.0.0.2}\n", "duplicate-key", false, 3, "a.example.com",
			[]string{"`ip` is given twice (first on line 3)", "keeps only the last, \"10.0.0.2\""}, 1},
		{"duplicate host variable lines", "kuma_core:\n  hosts:\n    a.example.com:\n      ip: 10.0.0.1\n      ip: 10.0.0.2\n", "duplicate-key", false, 5, "a.example.com",
			[]string{"`ip` is given twice (first on line 4)"}, 1},
		{"duplicate group", "kuma_core:\n  hosts:\n    a.example.com:\n" + other + "kuma_core:\n  hosts:\n    b.example.com:\n", "duplicate-key", false, 7, "",
			[]string{"`kuma_core` is given twice (first on line 1)", "what the first said is lost"}, 2},
		{"duplicate vars", "all:\n  vars:\n    a: 1\n    a: 2\n" + other, "duplicate-key", false, 4, "",
			[]string{"`all.vars.a` is given twice"}, 1},
		{"unexpected key", "kuma_core:\n  host:\n    a.example.com:\n" + other, "unexpected-key", true, 2, "",
			[]string{"`kuma_core.host`", "Ansible skips `host`"}, 1},
		{"group is a scalar", "kuma_core: a.example.com\n" + other, "group-not-mapping", false, 1, "",
			[]string{"group `kuma_core` is a scalar"}, 1},
		{"hosts is a number", "kuma_core:\n  hosts: 5\n" + other, "section-not-mapping", false, 2, "",
			[]string{"`kuma_core.hosts` is a number"}, 1},
		{"folded host lines", "kuma_storage:\n  hosts:\n    s1.example.com\n    s2.example.com\n" + other, "names-folded", false, 3, "",
			[]string{"`kuma_storage.hosts` is one string of 2 names: each host line needs a trailing ':'", "one host whose name is the 2 names joined by spaces"}, 1},
		{"names on one line", "kuma_storage:\n  hosts: s1.example.com s2.example.com\n" + other, "names-folded", false, 2, "",
			[]string{"`kuma_storage.hosts` is one string of 2 names, \"s1.example.com s2.example.com\""}, 1},
		{"folded group lines", "kuma:\n  children:\n    kuma_core\n    kuma_storage\n" + other, "names-folded", false, 3, "",
			[]string{"each group line needs a trailing ':'", "one group whose name"}, 1},
		{"children loop", "a:\n  children:\n    b:\n      children:\n        a:\n" + other, "children-loop", false, 5, "",
			[]string{"group `a` under `b.children` makes a loop"}, 1},
		{"bad range", "kuma_storage:\n  hosts:\n    s[3:1].example.com:\n" + other, "host-range-invalid", false, 3, "",
			[]string{"[3:1] is empty"}, 1},
		{"host written as a group", "kuma_core:\n  hosts:\n    a.example.com:\n      vars: {ip: 10.0.0.1}\n", "host-vars-nested", true, 3, "a.example.com",
			[]string{"`vars:` under a host is one variable named vars"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("f.yml", []byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Hosts) != tt.hosts {
				t.Errorf("%d hosts, want %d", len(c.Hosts), tt.hosts)
			}
			if len(c.Problems) != 1 {
				t.Fatalf("problems %+v, want one %s", c.Problems, tt.code)
			}
			p := c.Problems[0]
			if p.Code != tt.code || p.Warning != tt.warning || p.Line != tt.line || p.Host != tt.host || p.Remedy == "" {
				t.Errorf("problem %+v; want code %s warning %v line %d host %q and a remedy", p, tt.code, tt.warning, tt.line, tt.host)
			}
			for _, m := range tt.msg {
				if !strings.Contains(p.Message, m) {
					t.Errorf("message %q lacks %q", p.Message, m)
				}
			}
			f := Validate(c)
			if len(f) == 0 || f[0].Code != tt.code || f[0].Line != tt.line || (f[0].Severity == Warning) != tt.warning {
				t.Errorf("first finding %+v is not the problem", f)
			}
		})
	}
}

// TestAnsibleForms: what Ansible's YAML inventory accepts is read as it
// reads it.
func TestAnsibleForms(t *testing.T) {
	t.Run("scalar hosts", func(t *testing.T) {
		c := mustParse(t, "kuma_core:\n  hosts: kuma.example.com\nkuma_storage:\n  hosts:\n")
		if h := c.Host("kuma.example.com"); h == nil || !h.Roles.Has(cluster.RoleCore) || h.Line != 2 {
			t.Errorf("hosts %+v", c.Hosts)
		}
	})
	t.Run("scalar children", func(t *testing.T) {
		c := mustParse(t, "kuma:\n  children: kuma_core\nkuma_core:\n  hosts:\n    a.example.com:\n")
		if len(c.Hosts) != 1 || !c.Hosts[0].Roles.Has(cluster.RoleCore) {
			t.Errorf("hosts %+v", c.Hosts)
		}
	})
	t.Run("groups are global", func(t *testing.T) {
		// kuma_worker is defined at the top level and made a child of
		// kuma_k0s elsewhere, at the end of the file.
		c := mustParse(t, "kuma_worker:\n  vars: {zone: w}\n  hosts:\n    w1.example.com: {ansible_host: 192.168.1.11}\n"+
			"kuma_k0s:\n  vars: {zone: k, site: k}\n  children:\n    kuma_worker:\n    kuma_control_plane_master:\n      hosts: {cp1.example.com: {ansible_host: 192.168.1.1}}\n")
		w := c.Host("w1.example.com")
		if c.Layout != cluster.LayoutK0s || w == nil || !w.Roles.Has(cluster.RoleWorker) || w.Vars["zone"] != "w" || w.Vars["site"] != "k" {
			t.Errorf("layout %s, w1 %+v", c.Layout, w)
		}
	})
	t.Run("children at any depth", func(t *testing.T) {
		c := mustParse(t, "kuma:\n  children:\n    kuma_storage:\n      children:\n        site_a:\n          children:\n            rack_1:\n              hosts:\n                s1.example.com:\n")
		if h := c.Host("s1.example.com"); h == nil || !h.Roles.Has(cluster.RoleStorage) || !slices.Equal(h.Groups, []string{"rack_1"}) {
			t.Errorf("hosts %+v", c.Hosts)
		}
	})
	t.Run("ranges and ports", func(t *testing.T) {
		c := mustParse(t, "kuma_storage:\n  hosts:\n    s[01:03].example.com:\n      shard: 1\n    k[a:b].example.com:2222:\n")
		var names []string
		for _, h := range c.Hosts {
			names = append(names, h.Name)
		}
		if want := []string{"s01.example.com", "s02.example.com", "s03.example.com", "ka.example.com", "kb.example.com"}; !slices.Equal(names, want) {
			t.Errorf("names %v, want %v", names, want)
		}
		if c.Host("s02.example.com").Vars["shard"] != 1 || c.Host("kb.example.com").Vars["ansible_port"] != "2222" {
			t.Errorf("vars %v %v", c.Host("s02.example.com").Vars, c.Host("kb.example.com").Vars)
		}
	})
	t.Run("merge keys in hosts", func(t *testing.T) {
		c := mustParse(t, "base: &b {hosts: {a.example.com: }}\nkuma_core:\n  <<: *b\n")
		if c.Host("a.example.com") == nil || !c.Host("a.example.com").Roles.Has(cluster.RoleCore) {
			t.Errorf("hosts %+v", c.Hosts)
		}
	})
	t.Run("placeholder is no address", func(t *testing.T) {
		c := mustParse(t, "kuma_core:\n  hosts:\n    a.example.com: {ip: 0.0.0.0}\n    b.example.com: {ip: '::%eth0'}\n    c.example.com: {ansible_host: 0.0.0.0, ip: 10.0.0.3}\n")
		for name, want := range map[string]string{"a.example.com": "", "b.example.com": "", "c.example.com": "10.0.0.3"} {
			if h := c.Host(name); h.Address != want || (want == "") == h.IP.IsValid() {
				t.Errorf("%s address %q ip %v, want %q", name, h.Address, h.IP, want)
			}
		}
	})
}

func mustParse(t *testing.T, data string) *cluster.Cluster {
	t.Helper()
	c, err := Parse("t.yml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return c
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
