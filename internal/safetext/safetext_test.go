package safetext

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"core-1.example.com", "core-1.example.com"},
		{"", ""},
		{"with space and \\ backslash", "with space and \\ backslash"},
		{"Ядро-1", "Ядро-1"},
		{"evil'$(touch /tmp/x)'", "evil'$(touch /tmp/x)'"}, // printable: shown as it is, never run
		{"x\x1b[31mRED\nc9.lab.lan  127.0.201.9  alive  core  ok", `x\x1b[31mRED\nc9.lab.lan  127.0.201.9  alive  core  ok`},
		{"a\tb\rc\x00d\x7f", `a\tb\rc\x00d\x7f`},
		{"bidi\u202eevil", `bidi\u202eevil`},
		{"bad\xffutf8", `bad\xffutf8`},
		{"\u0085next line", `\u0085next line`},
	}
	for _, tt := range tests {
		if got := Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzEscape: whatever goes in, what comes out is valid UTF-8 with no
// control or format character, and printable input comes out unchanged.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"a", "x\x1b[31m\n", "\xff\xfe", "\u202e", "ok.example.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Escape(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Escape(%q) = %q: not UTF-8", s, got)
		}
		for _, r := range got {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
				t.Fatalf("Escape(%q) = %q keeps %U", s, got, r)
			}
		}
		if clean(s) && got != s {
			t.Fatalf("printable %q changed to %q", s, got)
		}
		if !clean(s) && !strings.Contains(got, `\`) {
			t.Fatalf("Escape(%q) = %q: nothing escaped", s, got)
		}
	})
}
