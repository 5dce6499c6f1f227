package yamlstrict

import (
	"regexp"
	"strconv"
	"strings"
)

var (
	lineRE         = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
)

// SplitLine splits one of yaml.v3's "[yaml: ]line N: message" texts into N
// and the message; ok is false for a text without a line.
func SplitLine(msg string) (line int, rest string, ok bool) {
	m := lineRE.FindStringSubmatch(msg)
	if m == nil {
		return 0, msg, false
	}
	n, _ := strconv.Atoi(m[1])
	return n, m[2], true
}

// UnknownField is the key yaml.v3 named in a KnownFields(true) complaint
// ("field X not found in type T"), ok false for other messages.
func UnknownField(msg string) (field string, ok bool) {
	if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
		return m[1], true
	}
	return "", false
}

// SyntaxError locates a parse error: its line (0 if yaml.v3 gave none) and
// the message for the operator, "invalid YAML: ...".
func SyntaxError(err error) (line int, msg string) {
	s := err.Error()
	if n, rest, ok := SplitLine(s); ok {
		return n, "invalid YAML: " + rest
	}
	return 0, "invalid YAML: " + strings.TrimPrefix(s, "yaml: ")
}
