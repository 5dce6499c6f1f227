package checks

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func writeConfFile(t testing.TB, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// flat renders directives as "name arg arg {...}" lines for comparison.
func flat(ds []*NginxDirective) []string {
	var out []string
	for _, d := range ds {
		s := strings.Join(append([]string{d.Name}, d.Args...), "|")
		if d.Block != nil {
			s += " {" + strings.Join(flat(d.Block), "; ") + "}"
		}
		out = append(out, s)
	}
	return out
}

func TestParseNginx(t *testing.T) {
	src := `# top comment
worker_processes  auto;   # trailing comment
events {}
stream {
    log_format main '$remote_addr [$time_local] "quoted" ${upstream_addr}x';
    upstream kuma_7210 {
        least_conn;
        server 127.0.10.3:7210 max_fails=3;
        server "kuma-4.local:7210";
    }
    server {
        listen [::]:7210 so_keepalive=on;
        proxy_pass kuma_7210;
    }
}
set $a "a\"b\\c\td";
multi
  line
  args;
esc a\ b;
`
	ds, err := parseNginx([]byte(src), "t.conf")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"worker_processes|auto",
		"events {}",
		"stream {log_format|main|$remote_addr [$time_local] \"quoted\" ${upstream_addr}x; " +
			"upstream|kuma_7210 {least_conn; server|127.0.10.3:7210|max_fails=3; server|kuma-4.local:7210}; " +
			"server {listen|[::]:7210|so_keepalive=on; proxy_pass|kuma_7210}}",
		"set|$a|a\"b\\c\td",
		"multi|line|args",
		`esc|a\ b`,
	}
	if got := flat(ds); !slices.Equal(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	lines := map[string]int{}
	var walk func([]*NginxDirective)
	walk = func(ds []*NginxDirective) {
		for _, d := range ds {
			lines[d.Name] = d.Line
			walk(d.Block)
		}
	}
	walk(ds)
	for name, line := range map[string]int{"worker_processes": 2, "events": 3, "stream": 4, "proxy_pass": 13, "multi": 17, "esc": 20} {
		if lines[name] != line {
			t.Errorf("%s at line %d, want %d", name, lines[name], line)
		}
	}
	if ds[1].Block == nil || len(ds[1].Block) != 0 {
		t.Errorf("empty block: %#v, want non-nil empty", ds[1].Block)
	}
	if ds[0].Block != nil {
		t.Errorf("simple directive has a block")
	}
}

func TestParseNginxErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"stray close", "a;\n}\n", "t.conf:2: unexpected \"}\""},
		{"missing semicolon", "stream {\n  upstream x {\n    server a:1\n  }\n}\n", "t.conf:4: unexpected \"}\" after \"server\""},
		{"unterminated quote", "a;\nb \"x;\n", "t.conf:2: unterminated \" quote"},
		{"unclosed block", "stream {\n  a;\n", "t.conf:1: unexpected end of file, expecting \"}\""},
		{"eof after name", "a b", "t.conf:1: unexpected end of file"},
		{"lone semicolon", ";", "t.conf:1: unexpected \";\""},
		{"junk after quote", `a "b"c;`, "t.conf:1: unexpected 'c'"},
		{"open var", "a ${x;\n", "t.conf:1: unterminated ${"},
		{"too deep", strings.Repeat("a {\n", maxNginxBlockDepth+2) + strings.Repeat("}\n", maxNginxBlockDepth+2), "nested deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseNginx([]byte(tt.src), "t.conf")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseNginxConfigIncludes(t *testing.T) {
	dir := t.TempDir()
	main := writeConfFile(t, filepath.Join(dir, "nginx.conf"), "include modules-enabled/*.conf;\nevents {}\nstream {\n  include stream.d/*.conf;\n  include "+filepath.Join(dir, "abs.conf")+";\n}\ninclude nothing/*.conf;\n")
	writeConfFile(t, filepath.Join(dir, "modules-enabled", "50-mod-stream.conf"), "load_module modules/ngx_stream_module.so;\n")
	writeConfFile(t, filepath.Join(dir, "modules-enabled", "10-mod-echo.conf"), "load_module modules/ngx_http_echo_module.so;\n")
	writeConfFile(t, filepath.Join(dir, "stream.d", "b.conf"), "# b\nupstream b { server 1.2.3.4:2; }\n")
	writeConfFile(t, filepath.Join(dir, "stream.d", "a.conf"), "upstream a { server 1.2.3.4:1; }\n")
	writeConfFile(t, filepath.Join(dir, "abs.conf"), "server { listen 1; proxy_pass a; }\n")

	ds, err := ParseNginxConfig(main)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"load_module|modules/ngx_http_echo_module.so",
		"load_module|modules/ngx_stream_module.so",
		"events {}",
		"stream {upstream|a {server|1.2.3.4:1}; upstream|b {server|1.2.3.4:2}; server {listen|1; proxy_pass|a}}",
	}
	if got := flat(ds); !slices.Equal(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	b := ds[3].Block[1]
	if b.Pos() != filepath.Join(dir, "stream.d", "b.conf")+":2" {
		t.Errorf("included directive at %s, want its own file:line", b.Pos())
	}
}

func TestParseNginxConfigIncludeErrors(t *testing.T) {
	t.Run("missing file", func(t *testing.T) {
		dir := t.TempDir()
		main := writeConfFile(t, filepath.Join(dir, "nginx.conf"), "events {}\ninclude missing.conf;\n")
		_, err := ParseNginxConfig(main)
		if err == nil || !strings.Contains(err.Error(), main+":2: include \"missing.conf\"") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("error in included file", func(t *testing.T) {
		dir := t.TempDir()
		main := writeConfFile(t, filepath.Join(dir, "nginx.conf"), "include conf.d/*.conf;\n")
		bad := writeConfFile(t, filepath.Join(dir, "conf.d", "x.conf"), "a;\nb {\n")
		_, err := ParseNginxConfig(main)
		if err == nil || !strings.Contains(err.Error(), bad+":2:") {
			t.Fatalf("err = %v, want the included file's name and line", err)
		}
	})
	t.Run("cycle", func(t *testing.T) {
		dir := t.TempDir()
		main := writeConfFile(t, filepath.Join(dir, "nginx.conf"), "include self.conf;\n")
		writeConfFile(t, filepath.Join(dir, "self.conf"), "a;\ninclude self.conf;\n")
		_, err := ParseNginxConfig(main)
		if err == nil || !strings.Contains(err.Error(), "include cycle") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("include with block", func(t *testing.T) {
		dir := t.TempDir()
		main := writeConfFile(t, filepath.Join(dir, "nginx.conf"), "include a b;\n")
		_, err := ParseNginxConfig(main)
		if err == nil || !strings.Contains(err.Error(), main+":1: include takes exactly one") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("fan-out cap", func(t *testing.T) {
		dir := t.TempDir()
		// Each level's 4 files include all of the next level: 4^6 files
		// without the cap, and no cycle.
		for lvl := range 6 {
			for i := range 4 {
				writeConfFile(t, filepath.Join(dir, "d"+strconv.Itoa(lvl), strconv.Itoa(i)+".conf"),
					"x;\ninclude d"+strconv.Itoa(lvl+1)+"/*.conf;\n")
			}
		}
		main := writeConfFile(t, filepath.Join(dir, "nginx.conf"), "include d0/*.conf;\n")
		_, err := ParseNginxConfig(main)
		if err == nil || !strings.Contains(err.Error(), "configuration files") {
			t.Fatalf("err = %v, want the file-count cap", err)
		}
	})
}

func FuzzParseNginx(f *testing.F) {
	for _, s := range []string{
		"events {}\nstream { upstream u { server 1.2.3.4:5; } server { listen 5; proxy_pass u; } }\n",
		"a 'b\\'c' \"d\\\"e\" ${f}g;\n# c\n",
		"}", "{", ";", "a \"", "a ${", "a\\", "x {\n y {\n z;\n }\n}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ds, err := parseNginx(data, "f.conf")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.conf:") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		var walk func([]*NginxDirective)
		walk = func(ds []*NginxDirective) {
			for _, d := range ds {
				if d.Line < 1 || d.File != "f.conf" {
					t.Fatalf("directive %q at %s", d.Name, d.Pos())
				}
				walk(d.Block)
			}
		}
		walk(ds)
	})
}
