// Package safetext makes text from elsewhere (a member's name, a check's
// message from another node, a unit name) safe to print on a terminal:
// Escape is the one escaping function every renderer of the CLI uses.
package safetext

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Escape returns s with every rune that is not printable (control
// characters such as newline and ESC, format characters such as the
// bidirectional overrides, other non-graphic runes) and every byte that is
// not UTF-8 replaced by its Go escape (\n, \x1b, \u202e, \xff), so that a
// name can neither start a new table row nor colour or move the terminal's
// cursor, and what it holds stays visible. Printable text, spaces included,
// is returned unchanged (and without copying).
func Escape(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteByte(hex[s[i]>>4])
			b.WriteByte(hex[s[i]&0xf])
		case strconv.IsPrint(r):
			b.WriteString(s[i : i+size])
		default:
			q := strconv.QuoteRune(r) // '\x1b', '\n', '\u202e'
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

const hex = "0123456789abcdef"

func clean(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || !strconv.IsPrint(r) {
			return false
		}
		i += size
	}
	return true
}
