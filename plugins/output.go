package plugins

import (
	"strings"
	"unicode"
)

// remedyPrefix marks an output line that says how to fix the finding.
const remedyPrefix = "REMEDY:"

// parseOutput reads Nagios plugin output: the first line's text (before any
// `|` performance data) is the message, further lines are details until a
// line with `|`, after which everything is performance data. A line starting
// with "REMEDY:" is the remedy wherever it stands, taken whole (a remedy may
// hold a shell pipe). Bytes are made valid UTF-8 and control characters
// other than tabs dropped, so plugin output cannot corrupt our reports.
func parseOutput(b []byte) (msg string, details []string, remedy string) {
	gotMsg, perf := false, false
	for _, ln := range strings.Split(sanitize(b), "\n") {
		t := strings.TrimSpace(ln)
		if len(t) >= len(remedyPrefix) && strings.EqualFold(t[:len(remedyPrefix)], remedyPrefix) {
			if remedy == "" {
				remedy = strings.TrimSpace(t[len(remedyPrefix):])
			}
			continue
		}
		if perf {
			continue
		}
		text, _, hasPerf := strings.Cut(t, "|")
		text = strings.TrimSpace(text)
		if gotMsg && hasPerf {
			perf = true // long text ends at its first '|'
		}
		if text == "" {
			continue
		}
		if !gotMsg {
			msg, gotMsg = text, true
			continue
		}
		details = append(details, text)
	}
	return msg, details, remedy
}

// sanitize makes b printable UTF-8, keeping newlines and tabs.
func sanitize(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return -1
		}
		return r
	}, s)
}
