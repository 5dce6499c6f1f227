package checks

import (
	"encoding/json"
	"fmt"
)

// Status is the outcome of a check. The order of the constants is severity
// order for Worst: a critical finding outranks a warning, which outranks an
// unknown (we could not tell), which outranks ok.
type Status int

const (
	OK Status = iota
	Unknown
	Warn
	Crit
)

var statusNames = [...]string{OK: "ok", Unknown: "unknown", Warn: "warn", Crit: "crit"}

func (s Status) String() string {
	if s < 0 || int(s) >= len(statusNames) {
		return fmt.Sprintf("status(%d)", int(s))
	}
	return statusNames[s]
}

// ParseStatus is the inverse of String.
func ParseStatus(v string) (Status, error) {
	for i, n := range statusNames {
		if n == v {
			return Status(i), nil
		}
	}
	return Unknown, fmt.Errorf("unknown status %q (want ok, warn, crit or unknown)", v)
}

func (s Status) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

func (s *Status) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	p, err := ParseStatus(v)
	*s = p
	return err
}

// Worst returns the more severe of a and b.
func Worst(a, b Status) Status {
	if b > a {
		return b
	}
	return a
}

// ExitCode maps a status to doctor's exit code: 0 ok, 1 warn (and unknown:
// the operator must look), 2 crit.
func (s Status) ExitCode() int {
	switch s {
	case OK:
		return 0
	case Crit:
		return 2
	default:
		return 1
	}
}

// NagiosCode maps a status to the Nagios plugin convention.
func (s Status) NagiosCode() int {
	switch s {
	case OK:
		return 0
	case Warn:
		return 1
	case Crit:
		return 2
	default:
		return 3
	}
}
