package cluster

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// MaxHostNameLength bounds a node's name: serf's own limit for node names
// (a DNS name may be 253, none of a cluster's hosts needs that).
const MaxHostNameLength = 128

// CheckHostName reports whether name is a host name as RFC 1123 allows
// it: dot-separated labels of 1-63 letters, digits and hyphens, no label
// starting or ending with a hyphen, at most MaxHostNameLength in all.
// Nothing else: no control character, space, quote, shell or terminal
// syntax can be part of a node's name. The error quotes the name escaped
// (a refused name is shown, never interpreted).
func CheckHostName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("host name is empty")
	case len(name) > MaxHostNameLength:
		return fmt.Errorf("host name %.40q... is %d bytes long, more than %d", name, len(name), MaxHostNameLength)
	}
	start := 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '.' {
			c := name[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				char := strconv.QuoteRune(rune(c))
				if c >= utf8.RuneSelf {
					char = fmt.Sprintf(`'\x%02x'`, c)
				}
				return fmt.Errorf("host name %s: character %s at byte %d is not a letter, digit, '-' or '.'",
					strconv.Quote(name), char, i)
			}
			continue
		}
		label := name[start:i]
		switch {
		case label == "":
			return fmt.Errorf("host name %s has an empty label (leading, trailing or double dot)", strconv.Quote(name))
		case len(label) > 63:
			return fmt.Errorf("host name %s: label %q is %d bytes long, more than 63", strconv.Quote(name), label, len(label))
		case label[0] == '-' || label[len(label)-1] == '-':
			return fmt.Errorf("host name %s: label %q starts or ends with '-'", strconv.Quote(name), label)
		}
		start = i + 1
	}
	return nil
}
