package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/safetext"
)

// Format is an output format of doctor.
type Format string

const (
	FormatTable  Format = "table"
	FormatJSON   Format = "json"
	FormatNagios Format = "nagios"
)

// ParseFormat validates --format.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatTable, FormatJSON, FormatNagios:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q (want table, json or nagios)", s)
}

// ExitCode is doctor's exit status for the report in format f: 0 ok, 1 warn
// (or unknown), 2 crit; the nagios format uses Nagios' codes (unknown 3).
func (r Report) ExitCode(f Format) int {
	if f == FormatNagios {
		return r.Summary.Status.NagiosCode()
	}
	return r.Summary.Status.ExitCode()
}

// Write renders the report. color adds ANSI colors (only on a terminal).
func (r Report) Write(w io.Writer, f Format, color bool) error {
	switch f {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case FormatNagios:
		return r.writeNagios(w)
	default:
		return r.writeTable(w, color)
	}
}

// areaOrder is how the table groups findings: identity and membership first
// because everything else is judged against them.
var areaOrder = []checks.Area{checks.AreaCluster, checks.AreaIdentity, checks.AreaNames, checks.AreaTime,
	checks.AreaStorage, checks.AreaNetwork, checks.AreaLB, checks.AreaPlugin}

var statusLabel = map[checks.Status]string{checks.OK: "OK", checks.Warn: "WARN", checks.Crit: "CRIT", checks.Unknown: "UNKNOWN"}
var statusColor = map[checks.Status]string{checks.OK: "\x1b[32m", checks.Warn: "\x1b[33m", checks.Crit: "\x1b[31;1m", checks.Unknown: "\x1b[35m"}

const colorReset = "\x1b[0m"

func (r Report) writeTable(w io.Writer, color bool) error {
	var b strings.Builder
	paint := func(s checks.Status, text string) string {
		if !color {
			return text
		}
		return statusColor[s] + text + colorReset
	}
	roles := safetext.Escape(strings.Join(r.Roles, ","))
	if roles == "" {
		roles = "no roles"
	}
	if r.Host != "" { // a report of the cluster as a whole has its own title
		fmt.Fprintf(&b, "kuma-agent doctor: %s (%s)", safetext.Escape(r.Host), roles)
		if r.Layout != "" {
			fmt.Fprintf(&b, ", %s cluster from %s", safetext.Escape(string(r.Layout)), safetext.Escape(r.Inventory))
		}
		b.WriteString("\n")
	}
	width := 0
	for _, f := range r.Findings {
		width = max(width, len(safetext.Escape(f.Check)))
	}
	areas := slices.Clone(areaOrder)
	for _, f := range r.Findings {
		if !slices.Contains(areas, f.Area) {
			areas = append(areas, f.Area)
		}
	}
	for _, a := range areas {
		first := true
		for _, f := range r.Findings {
			if f.Area != a {
				continue
			}
			if first {
				fmt.Fprintf(&b, "\n%s\n", safetext.Escape(strings.ToUpper(string(a))))
				first = false
			}
			fmt.Fprintf(&b, "  %s  %-*s  %s\n", paint(f.Status, fmt.Sprintf("%-7s", statusLabel[f.Status])), width, safetext.Escape(f.Check), OneLine(f.Message))
			indent := strings.Repeat(" ", 2+7+2+width+2)
			for _, d := range f.Details {
				fmt.Fprintf(&b, "%s- %s\n", indent, OneLine(d))
			}
			if f.Remedy != "" && f.Status != checks.OK {
				// Remedies are often several commands or file lines: keep
				// their line breaks, indented under "fix:".
				for i, line := range strings.Split(strings.TrimRight(f.Remedy, "\n"), "\n") {
					prefix := "fix: "
					if i > 0 {
						prefix = "     "
					}
					fmt.Fprintf(&b, "%s%s%s\n", indent, prefix, OneLine(line))
				}
			}
		}
	}
	s := r.Summary
	fmt.Fprintf(&b, "\n%d checks: %d ok, %d warn, %d crit, %d unknown in %.0f ms: %s\n",
		s.Total, s.OK, s.Warn, s.Crit, s.Unknown, s.DurationMS, paint(s.Status, statusLabel[s.Status]))
	_, err := io.WriteString(w, b.String())
	return err
}

// writeNagios prints one status line with perfdata, then the non-ok
// findings, as monitoring systems expect from a plugin.
func (r Report) writeNagios(w io.Writer) error {
	s := r.Summary
	var bad []string
	for _, f := range r.Findings {
		if f.Status != checks.OK {
			bad = append(bad, safetext.Escape(f.Check)+": "+OneLine(f.Message))
		}
	}
	head := fmt.Sprintf("KUMA-AGENT %s - %s", map[checks.Status]string{checks.OK: "OK", checks.Warn: "WARNING", checks.Crit: "CRITICAL", checks.Unknown: "UNKNOWN"}[s.Status], safetext.Escape(r.Host))
	if len(bad) > 0 {
		head += ": " + bad[0]
		if len(bad) > 1 {
			head += fmt.Sprintf(" (+%d more)", len(bad)-1)
		}
	} else {
		head += fmt.Sprintf(": all %d checks ok", s.Total)
	}
	_, err := fmt.Fprintf(w, "%s | ok=%d warn=%d crit=%d unknown=%d duration=%.3fs\n", strings.ReplaceAll(head, "|", "/"),
		s.OK, s.Warn, s.Crit, s.Unknown, s.DurationMS/1000)
	if err != nil {
		return err
	}
	for _, line := range bad {
		if _, err := fmt.Fprintln(w, strings.ReplaceAll(line, "|", "/")); err != nil {
			return err
		}
	}
	return nil
}

// OneLine keeps a message from breaking the table's layout (plugin output
// and command errors can contain newlines and control characters): line
// breaks and tabs become spaces, every other control or non-printable
// character its visible escape (safetext.Escape, the one escaping
// function of every renderer), so nothing another node sent can colour
// the terminal or start a row of its own.
func OneLine(s string) string {
	return safetext.Escape(strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, s))
}
