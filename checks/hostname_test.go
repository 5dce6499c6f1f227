package checks

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// hostnameSays fakes `hostname -f`, recording what was run.
func hostnameSays(out string, err error, ran *[]string) Commander {
	return CommanderFunc(func(_ context.Context, name string, args ...string) ([]byte, error) {
		*ran = append(*ran, strings.Join(append([]string{name}, args...), " "))
		return []byte(out), err
	})
}

func TestHostname(t *testing.T) {
	cases := []struct {
		name     string
		fqdn     string
		static   *string // nil: no static file
		expected string
		rule     cluster.NameRule
		core     bool
		want     Status
		msgHas   string
	}{
		{"exact", "kuma-1.local\n", new("kuma-1.local\n"), "kuma-1.local", cluster.NameNeedsDot, true, OK, "kuma-1.local"},
		{"no dot", "kuma1\n", new("kuma1\n"), "kuma1", cluster.NameNeedsDot, false, Crit, "at least one dot"},
		{"acura dot", "acura-node-1.example.com", new("acura-node-1.example.com"), "", cluster.NameNoDot, false, Crit, "without dots"},
		{"acura ok", "acura-node-1", new("acura-node-1"), "acura-node-1", cluster.NameNoDot, false, OK, "acura-node-1"},
		{"acura lb fqdn", "acura-lb.example.com", new("acura-lb.example.com"), "acura-lb.example.com", cluster.NameAny, false, OK, "acura-lb.example.com"},
		{"acura lb short", "acura-lb", new("acura-lb"), "acura-lb", cluster.NameAny, false, OK, "acura-lb"},
		{"case only", "KUMA-1.local", new("KUMA-1.local"), "kuma-1.local", cluster.NameNeedsDot, false, Crit, "letter case"},
		{"other name", "kuma-9.local", new("kuma-9.local"), "kuma-1.local", cluster.NameNeedsDot, false, Crit, `inventory names this node "kuma-1.local"`},
		{"static differs", "kuma-1.local", new("kuma-1\n"), "kuma-1.local", cluster.NameNeedsDot, false, Warn, "static hostname"},
		{"static missing", "kuma-1.local", nil, "kuma-1.local", cluster.NameNeedsDot, false, OK, "kuma-1.local"},
		{"static padded", "kuma-1.local", new("  kuma-1.local  \nsecond line\n"), "kuma-1.local", cluster.NameNeedsDot, false, OK, ""},
		{"core digit", "1kuma.local", new("1kuma.local"), "1kuma.local", cluster.NameNeedsDot, true, Crit, "starts with a digit"},
		{"non-core digit ok", "1kuma.local", new("1kuma.local"), "1kuma.local", cluster.NameNeedsDot, false, OK, ""},
		{"not in inventory", "kuma-x.local", new("kuma-x.local"), "", cluster.NameNeedsDot, false, OK, ""},
		{"crit outranks warn", "kuma9", new("other"), "kuma-1.local", cluster.NameNeedsDot, false, Crit, "(and 2 more)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			static := filepath.Join(dir, "hostname")
			if c.static != nil {
				writeCheckInput(t, static, *c.static)
			}
			var ran []string
			h := &Hostname{Expected: c.expected, Rule: c.rule, IsCore: c.core, StaticFile: static,
				Bin: "/usr/bin/hostname", Cmd: hostnameSays(c.fqdn, nil, &ran), InstallDirs: []string{}}
			r := h.Run(context.Background())
			if r.Status != c.want {
				t.Fatalf("status = %v, want %v: %+v", r.Status, c.want, r)
			}
			if !strings.Contains(r.Message, c.msgHas) {
				t.Errorf("message %q lacks %q", r.Message, c.msgHas)
			}
			if !slices.Equal(ran, []string{"/usr/bin/hostname -f"}) {
				t.Errorf("ran %q, want hostname -f", ran)
			}
			if c.want == OK && r.Remedy != "" {
				t.Errorf("OK with remedy %q", r.Remedy)
			}
			if c.want != OK {
				want := "hostnamectl set-hostname " + c.expected
				if c.expected == "" {
					want = "hostnamectl set-hostname <inventory name>"
				}
				if !strings.Contains(r.Remedy, want) {
					t.Errorf("remedy %q lacks %q", r.Remedy, want)
				}
				if strings.Contains(r.Remedy, "CAUTION") {
					t.Errorf("remedy warns about an install that is not there: %q", r.Remedy)
				}
			}
			if c.static == nil && !linesContain(r.Details, "does not exist") {
				t.Errorf("details %q do not note the missing static file", r.Details)
			}
		})
	}
}

func TestHostnameCautionOnInstalledNode(t *testing.T) {
	installed := t.TempDir()
	var ran []string
	h := &Hostname{Expected: "kuma-1.local", StaticFile: filepath.Join(t.TempDir(), "none"),
		Cmd: hostnameSays("kuma-2.local", nil, &ran), InstallDirs: []string{filepath.Join(installed, "absent"), installed}}
	r := h.Run(context.Background())
	if r.Status != Crit {
		t.Fatalf("status %v", r.Status)
	}
	if !strings.Contains(r.Remedy, "CAUTION") || !strings.Contains(r.Remedy, installed) || !strings.Contains(r.Remedy, "certificates") {
		t.Errorf("remedy %q lacks the rename caution naming %s", r.Remedy, installed)
	}
	if ran[0] != "hostname -f" {
		t.Errorf("default Bin: ran %q", ran)
	}
}

func TestHostnameCommandFails(t *testing.T) {
	var ran []string
	h := &Hostname{Expected: "kuma-1.local", StaticFile: filepath.Join(t.TempDir(), "none"),
		Cmd: hostnameSays("hostname: Name or service not known\n", errors.New("exit status 1"), &ran)}
	r := h.Run(context.Background())
	if r.Status != Unknown {
		t.Fatalf("status = %v, want unknown", r.Status)
	}
	if !linesContain(r.Details, "Name or service not known") || !strings.Contains(r.Remedy, "/etc/hosts") {
		t.Errorf("result %+v does not show the output and the fix", r)
	}
	for _, out := range []string{"", "   \n", "two words\n"} {
		h.Cmd = hostnameSays(out, nil, &ran)
		if r := h.Run(context.Background()); r.Status != Unknown {
			t.Errorf("output %q: status %v, want unknown", out, r.Status)
		}
	}
}

func TestHostnameRealCommand(t *testing.T) {
	// The default ExecCommander with a stand-in binary: `echo -f` prints
	// "-f", a name without a dot.
	h := &Hostname{Bin: "echo", StaticFile: filepath.Join(t.TempDir(), "none"), InstallDirs: []string{}}
	r := h.Run(context.Background())
	if r.Status != Crit || !strings.Contains(r.Message, `"-f"`) {
		t.Fatalf("got %+v", r)
	}
}
