package doctor

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/checks"
)

func sampleReport() Report {
	fs := []Finding{
		{Check: "ntp", Area: checks.AreaTime, Status: checks.Warn, Message: "offset 150ms", Remedy: "chronyc makestep\nthen check again", Host: "n1"},
		{Check: "disk", Area: checks.AreaStorage, Status: checks.OK, Message: "enough | space", Host: "n1"},
		{Check: "plugin:x", Area: checks.AreaPlugin, Status: checks.Crit, Message: "bad\nthing\x1b[31m", Details: []string{"a\tb"}, Host: "n1"},
	}
	return Report{Host: "n1", Roles: []string{"core"}, Findings: fs, Summary: Summarize(fs)}
}

func TestSummaryAndExitCodes(t *testing.T) {
	r := sampleReport()
	s := r.Summary
	if s.Status != checks.Crit || s.OK != 1 || s.Warn != 1 || s.Crit != 1 || s.Total != 3 {
		t.Fatalf("%+v", s)
	}
	if r.ExitCode(FormatTable) != 2 || r.ExitCode(FormatNagios) != 2 {
		t.Error("crit exit")
	}
	r.Findings[2].Status = checks.Unknown
	r.Summary = Summarize(r.Findings)
	if r.ExitCode(FormatJSON) != 1 || r.ExitCode(FormatNagios) != 1 {
		t.Errorf("warn+unknown: %d %d", r.ExitCode(FormatJSON), r.ExitCode(FormatNagios))
	}
	r.Findings = r.Findings[2:]
	r.Summary = Summarize(r.Findings)
	if r.ExitCode(FormatJSON) != 1 || r.ExitCode(FormatNagios) != 3 {
		t.Errorf("unknown only: %d %d", r.ExitCode(FormatJSON), r.ExitCode(FormatNagios))
	}
}

func TestTableGroupsByAreaAndSanitizes(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().Write(&b, FormatTable, false); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if i, j := strings.Index(out, "TIME"), strings.Index(out, "STORAGE"); i < 0 || j < i {
		t.Errorf("areas out of order:\n%s", out)
	}
	if !strings.Contains(out, "fix: chronyc makestep\n") || !strings.Contains(out, "     then check again") {
		t.Errorf("multi-line remedy:\n%s", out)
	}
	if strings.Contains(out, "\x1b") || !strings.Contains(out, `bad thing\x1b[31m`) {
		t.Errorf("control characters leaked:\n%q", out)
	}
	b.Reset()
	sampleReport().Write(&b, FormatTable, true)
	if !strings.Contains(b.String(), "\x1b[31;1mCRIT") {
		t.Error("no color on request")
	}
}

func TestNagiosFormat(t *testing.T) {
	var b bytes.Buffer
	sampleReport().Write(&b, FormatNagios, false)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if !strings.HasPrefix(lines[0], "KUMA-AGENT CRITICAL - n1: ntp: offset 150ms (+1 more) | ok=1 warn=1 crit=1 unknown=0") {
		t.Errorf("head: %q", lines[0])
	}
	if len(lines) != 3 || strings.Count(b.String(), "|") != 1 {
		t.Errorf("perfdata separator must appear once:\n%s", b.String())
	}
}

func TestParseFormat(t *testing.T) {
	for _, f := range []string{"table", "json", "nagios"} {
		if _, err := ParseFormat(f); err != nil {
			t.Error(err)
		}
	}
	if _, err := ParseFormat("yaml"); err == nil {
		t.Error("yaml accepted")
	}
}
