package argtmpl

import (
	"strings"
	"testing"
)

func TestCheckRefusesEveryActionButFieldReferences(t *testing.T) {
	fields := []string{"Leader", "ID", "Unit"}
	good := [][]string{
		{"kuma", "core", "--raft.join", "{{.Leader}}", "--id", "{{ .ID }}", "--install"},
		{"x", "prefix-{{.Unit}}-{{.ID}}", "{{- .Unit -}}", "{{/* a comment */}}"},
		{"sh", "-c", `echo "$1"`, "sh", "{{.Leader}}"},
		{"plain"},
	}
	for _, argv := range good {
		if errs := Check(argv, fields); errs != nil {
			t.Errorf("Check(%q): %v", argv, errs)
		}
	}
	bad := []struct {
		argv []string
		want string
	}{
		{[]string{"kuma", "core", "{{call .Leader}}"}, "argument 2: template action {{call .Leader}} is not allowed; only {{.Field}} references"},
		{[]string{"{{.Leader | printf \"%s;id\"}}"}, "template action"},
		{[]string{"{{printf \"%s\" .Leader}}"}, "template action"},
		{[]string{"{{$x := .Leader}}{{$x}}"}, "template action"},
		{[]string{"{{.Leader.Host}}"}, "template action {{.Leader.Host}}"},
		{[]string{"{{if .Leader}}x{{end}}"}, "template action {{if .Leader}}x{{end}} is not allowed"},
		{[]string{"{{range .Leader}}x{{end}}"}, "template action"},
		{[]string{"{{with .Leader}}{{.}}{{end}}"}, "template action"},
		{[]string{`{{define "x"}}y{{end}}{{template "x"}}`}, "not allowed"},
		{[]string{"{{.}}"}, "template action {{.}}"},
		{[]string{"{{html .Leader}}"}, "template action"},
		{[]string{"{{.Leadr}}"}, "argument 0: unknown placeholder {{.Leadr}} (known: Leader, ID, Unit)"},
		{[]string{"{{.Leader"}, "argument 0: not a valid template"},
		{[]string{"sh", "-c", "echo {{.Leader}}"}, "argument 2: a shell script with a {{...}} placeholder"},
		{[]string{"env", "A=b", "/bin/bash", "-ec", "x {{.Unit}}"}, "argument 4: a shell script"},
	}
	for _, b := range bad {
		errs := Check(b.argv, fields)
		if len(errs) == 0 || !strings.Contains(errs[0].Error(), b.want) {
			t.Errorf("Check(%q) = %v, want %q", b.argv, errs, b.want)
		}
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"Name": "x'; touch /tmp/pwned; '", "Addr": "10.0.0.3"}
	got, err := Expand([]string{"k0s", "etcd", "leave", "--peer-address", "{{.Addr}}", "n={{.Name}}"}, vars)
	if err != nil || len(got) != 6 || got[4] != "10.0.0.3" || got[5] != "n="+vars["Name"] {
		t.Fatalf("Expand: %q, %v", got, err)
	}
	for _, argv := range [][]string{
		{"{{call .Name}}"},
		{"sh", "-c", "echo {{.Name}}"},
		{"{{.Hostname}}"}, // no value
	} {
		if got, err := Expand(argv, vars); err == nil {
			t.Errorf("Expand(%q) = %q, want an error", argv, got)
		}
	}
	if got, err := Expand([]string{"a{{.Name}}b"}, map[string]string{"Name": "{{.Addr}}"}); err != nil || got[0] != "a{{.Addr}}b" {
		t.Errorf("a value is text, never a template: %q %v", got, err)
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{"{{.A}}", "{{call .A}}", "{{", "a{{.A}}b{{.B}}", "{{if .A}}{{end}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		errs := Check([]string{s}, nil)
		out, err := Expand([]string{s}, map[string]string{})
		if len(errs) > 0 && err == nil {
			t.Fatalf("%q: Check refused (%v) but Expand ran: %q", s, errs, out)
		}
	})
}
