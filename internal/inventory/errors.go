package inventory

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseError locates a problem in an inventory file as precisely as the
// format allows, in the FILE:LINE: form editors and CI logs link to.
type ParseError struct {
	File string
	Line int    // 0 when the problem has no single line (e.g. file too big)
	Key  string // group, host or variable the problem is about; may be empty
	Msg  string
	Err  error // underlying cause, if any
}

func (e *ParseError) Error() string {
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

func (e *ParseError) Unwrap() error { return e.Err }

func errAt(file string, line int, key, format string, args ...any) *ParseError {
	return &ParseError{File: file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
}
