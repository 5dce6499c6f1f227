package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/testlab"
)

// manPage is `kuma-agent man` for a fixed date.
func manPage(t *testing.T) string {
	t.Helper()
	code, out, errOut := run(context.Background(), "man", "--date", "2026-11-27")
	if code != 0 || errOut != "" {
		t.Fatalf("man: exit %d, stderr %q", code, errOut)
	}
	return out
}

// The page lists every visible command with its synopsis and every flag,
// and leaves the hidden ones out, as -h does.
func TestManPageCoversEveryCommandAndFlag(t *testing.T) {
	page := manPage(t)
	if !strings.HasPrefix(page, ".\\\"") || !strings.Contains(page, "\n.TH KUMA\\-AGENT 1 \"2026-11-27\" \"kuma-agent "+version+"\"") {
		t.Fatalf("no title line for the date and version:\n%.400s", page)
	}
	_, usage, _ := run(context.Background(), "-h")
	for _, c := range commands(stdio{}) {
		head := ".SS \"kuma-agent " + c.name + "\"\n"
		listed := strings.Contains(usage, "\n  "+c.name+" ")
		if c.hidden {
			if strings.Contains(page, head) || listed {
				t.Errorf("hidden command %s is on the page or in -h", c.name)
			}
			continue
		}
		if !strings.Contains(page, head) || !listed {
			t.Errorf("command %s: on the page %v, in -h %v", c.name, strings.Contains(page, head), listed)
			continue
		}
		section := page[strings.Index(page, head):]
		if i := strings.Index(section[len(head):], "\n.SS "); i >= 0 {
			section = section[:len(head)+i]
		}
		if !strings.Contains(section, roffLine(c.usage)) {
			t.Errorf("command %s: no synopsis %q", c.name, c.usage)
		}
		c.flagSet().VisitAll(func(f *flag.Flag) {
			if !strings.Contains(section, "\\-\\-"+f.Name) {
				t.Errorf("command %s: flag --%s is not on the page", c.name, f.Name)
			}
		})
	}
}

func TestManDateMustBeADate(t *testing.T) {
	code, out, errOut := run(context.Background(), "man", "--date", "27.11.2026")
	if code != 2 || out != "" || !strings.Contains(errOut, `--date "27.11.2026": want YYYY-MM-DD`) {
		t.Errorf("exit %d, stdout %q, stderr %q; want 2 and the date named", code, out, errOut)
	}
}

func TestRoffLine(t *testing.T) {
	for in, want := range map[string]string{
		".x starts a request":           `\&.x starts a request`,
		"'x too":                        `\&'x too`,
		`a\b`:                           `a\eb`,
		"--config and -h (--fresh)":     `\-\-config and \-h (\-\-fresh)`,
		"high-availability, 0-3, a - b": "high-availability, 0-3, a - b",
		"`kuma-agent leave`":            "`kuma-agent leave`",
	} {
		if got := roffLine(in); got != want {
			t.Errorf("roffLine(%q) = %q, want %q", in, got, want)
		}
	}
}

// Whatever a help text holds, no line of it becomes a roff request and
// every backslash is one roffLine wrote.
func FuzzRoffLine(f *testing.F) {
	for _, s := range []string{".TH x", "'x", `\fB`, "--flag", "a-b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsAny(s, "\n\r") {
			return
		}
		out := roffLine(s)
		if strings.HasPrefix(out, ".") || strings.HasPrefix(out, "'") {
			t.Fatalf("roffLine(%q) = %q starts a request", s, out)
		}
		for i := 0; i < len(out); i++ {
			if out[i] != '\\' {
				continue
			}
			if i+1 >= len(out) || !strings.ContainsRune("e-&", rune(out[i+1])) {
				t.Fatalf("roffLine(%q) = %q: a backslash escape it did not write at %d", s, out, i)
			}
			i++
		}
	})
}

// man-db renders the page without a single groff or man warning (what
// lintian reports as groff-message), and the text reads as -h does.
func TestManPageRenders(t *testing.T) {
	testlab.NeedTools(t, "man")
	path := filepath.Join(t.TempDir(), "kuma-agent.1")
	if err := os.WriteFile(path, []byte(manPage(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", path)
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "LC_ALL=C.UTF-8")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("man --warnings: %v\n%s", err, stderr.String())
	}
	cmd = exec.Command("man", "-l", path)
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "MAN_KEEP_FORMATTING=0", "LC_ALL=C.UTF-8")
	text, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"KUMA-AGENT(1)", "kuma-agent doctor [flags]", "--cluster", "/etc/kuma-agent/gossip.keyring"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("the rendered page lacks %q", want)
		}
	}
}
