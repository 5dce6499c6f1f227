package yamlstrict

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Error is one problem in a file, located as precisely as the file allows:
// printed as FILE:LINE: KEY: MSG, the form editors and CI logs link to.
// config (agent.yaml), alerts (alerts.yaml) and inventory (Ansible YAML and
// INI inventories) report every problem in a file with it.
type Error struct {
	File string
	Line int    // 0 when the problem has no single line (file too big, a default value)
	Key  string // dotted key path (checks.ntp.timeout, rules[0].name), group or host; may be empty
	Msg  string
	Err  error // the cause or class (ErrTooLarge, ErrBudget, ...), if any
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errors is every problem found in one file, one per line when printed:
// decoding does not stop at the first so the operator fixes them in one go.
// Every located error of the pipeline is an Errors, one problem or several.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap lets errors.As find an *Error and errors.Is its cause.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Add appends a problem.
func (es *Errors) Add(file string, line int, key, format string, args ...any) {
	*es = append(*es, &Error{File: file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// Err is es as an error, nil when there is no problem.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Errorf is a one-problem Errors.
func Errorf(file string, line int, key, format string, args ...any) error {
	return Errors{{File: file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}}
}

// The classes of refusal a caller may test for with errors.Is.
var (
	// ErrTooLarge: the file is over the caller's size cap.
	ErrTooLarge = errors.New("file too large")
	// ErrNotRegular: a FIFO, device, directory or socket was named as a file.
	ErrNotRegular = errors.New("not a regular file")
	// ErrBudget: the document is refused for its shape rather than its
	// syntax: too many nodes, too deep, too many aliases.
	ErrBudget = errors.New("too many YAML aliases/too deep")
)
