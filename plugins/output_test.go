package plugins

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseOutput(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		msg     string
		details []string
		remedy  string
	}{
		{"message only", "DISK OK\n", "DISK OK", nil, ""},
		{"perf data dropped", "DISK OK - free 70% | /=30%;80;90\n", "DISK OK - free 70%", nil, ""},
		{"long text then perf", "WARN: 2 of 5 bad | a=1\nsdb: smart error\nsdc: smart error | b=2\nc=3\n", "WARN: 2 of 5 bad",
			[]string{"sdb: smart error", "sdc: smart error"}, ""},
		{"remedy anywhere, pipes kept", "CRIT: kuma down\nREMEDY: journalctl -u 'kuma-core-*' | tail\ndetail\nremedy: second is ignored\n",
			"CRIT: kuma down", []string{"detail"}, "journalctl -u 'kuma-core-*' | tail"},
		{"leading blank lines", "\n\n  first  \n\nsecond\n", "first", []string{"second"}, ""},
		{"crlf", "OK\r\nline\r\n", "OK", []string{"line"}, ""},
		{"control chars", "O\x1b[31mK\x00\n", "O[31mK", nil, ""},
		{"empty", "", "", nil, ""},
		{"only perf", "| a=1\n", "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, details, remedy := parseOutput([]byte(tt.in))
			if msg != tt.msg || !slices.Equal(details, tt.details) || remedy != tt.remedy {
				t.Errorf("parseOutput(%q) = %q, %q, %q; want %q, %q, %q", tt.in, msg, details, remedy, tt.msg, tt.details, tt.remedy)
			}
		})
	}
}

func TestParseOutputInvalidUTF8(t *testing.T) {
	msg, _, _ := parseOutput([]byte("bad \xff\xfe bytes\n"))
	if !utf8.ValidString(msg) || !strings.Contains(msg, "\uFFFD") || !strings.HasPrefix(msg, "bad ") {
		t.Errorf("msg = %q", msg)
	}
}

func FuzzParseOutput(f *testing.F) {
	for _, s := range []string{"OK\n", "WARN | a=1\nx\ny | b\nz", "REMEDY: a | b\nCRIT", "\xff\xfe\n\x00", "\u2028x\r\n", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, details, remedy := parseOutput(b)
		for _, s := range append([]string{msg, remedy}, details...) {
			if !utf8.ValidString(s) || strings.ContainsAny(s, "\n\r\x00\x1b") {
				t.Fatalf("unsafe text %q from %q", s, b)
			}
		}
		if strings.Contains(msg, "|") {
			t.Fatalf("perf data in message %q", msg)
		}
		if msg == "" && len(details) > 0 {
			t.Fatalf("details %q without a message", details)
		}
		if len(msg)+len(remedy) > len(b)*3 {
			t.Fatalf("output grew: %d bytes from %d", len(msg)+len(remedy), len(b))
		}
	})
}
