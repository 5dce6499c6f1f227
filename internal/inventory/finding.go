package inventory

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// Severity ranks a finding; the order is the exit-code order.
type Severity int

const (
	Info    Severity = iota // worth knowing, nothing to fix
	Warning                 // works, but weaker than the reference's HA design
	Error                   // the installer fails or the cluster is not HA as intended
)

var severityNames = [...]string{Info: "info", Warning: "warning", Error: "error"}

func (s Severity) String() string {
	if s >= 0 && int(s) < len(severityNames) {
		return severityNames[s]
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// MarshalJSON writes the lowercase name.
func (s Severity) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads the lowercase name, so reports round-trip.
func (s *Severity) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return fmt.Errorf("severity: %w", err)
	}
	for i, n := range severityNames {
		if strings.EqualFold(n, name) {
			*s = Severity(i)
			return nil
		}
	}
	return fmt.Errorf("unknown severity %q (valid: info, warning, error)", name)
}

// Finding is one result of Validate.
type Finding struct {
	Severity Severity `json:"severity"`
	// Code is a stable kebab-case id (e.g. "raft-even-cores") for scripts.
	Code    string `json:"code"`
	Message string `json:"message"`
	Host    string `json:"host,omitempty"`
	Line    int    `json:"line,omitempty"`
	Remedy  string `json:"remedy,omitempty"`
}

func (f Finding) String() string {
	where := ""
	if f.Host != "" {
		where = " " + f.Host
	}
	return fmt.Sprintf("%s %s%s: %s", f.Severity, f.Code, where, f.Message)
}

// Summary returns the worst severity in f (Info when f is empty).
func Summary(f []Finding) Severity {
	worst := Info
	for _, x := range f {
		worst = max(worst, x.Severity)
	}
	return worst
}

// ExitCode maps findings to a process exit code: 0 clean or info only,
// 1 warnings, 2 errors.
func ExitCode(f []Finding) int {
	switch Summary(f) {
	case Error:
		return 2
	case Warning:
		return 1
	}
	return 0
}

// newFinding builds a finding about h (which may be nil).
func newFinding(s Severity, code string, h *cluster.Host, remedy, format string, args ...any) Finding {
	f := Finding{Severity: s, Code: code, Message: fmt.Sprintf(format, args...), Remedy: remedy}
	if h != nil {
		f.Host, f.Line = h.Name, h.Line
	}
	return f
}

// problemFinding reports a mistake the reader read past.
func problemFinding(p cluster.Problem) Finding {
	s := Error
	if p.Warning {
		s = Warning
	}
	return Finding{Severity: s, Code: p.Code, Message: p.Message, Host: p.Host, Line: p.Line, Remedy: p.Remedy}
}
