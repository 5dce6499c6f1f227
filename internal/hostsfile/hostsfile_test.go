package hostsfile

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/yamlstrict"
)

const sample = "# Debian default plus a cluster\n" +
	"127.0.0.1\tlocalhost\n" +
	"127.0.1.1  kuma-1.local kuma-1   # the classic pitfall\n" +
	"\n" +
	"   \t  \n" +
	"::1 localhost ip6-localhost ip6-loopback\n" +
	"fe80::1%eth0 link-local.example\n" +
	"10.0.0.5 KUMA-2.Local\r\n" +
	"300.1.1.1 bad-ip.example\n" +
	"10.0.0.9\n" +
	"10.0.0.10 # only a comment after the address\n" +
	"10.0.0.11 absolute.example.\n"

func parseSample(t *testing.T) *File {
	t.Helper()
	f, err := Parse("/etc/hosts", strings.NewReader(sample))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

func TestParseEntries(t *testing.T) {
	f := parseSample(t)
	want := []struct {
		ip    string
		names []string
		line  int
	}{
		{"127.0.0.1", []string{"localhost"}, 2},
		{"127.0.1.1", []string{"kuma-1.local", "kuma-1"}, 3},
		{"::1", []string{"localhost", "ip6-localhost", "ip6-loopback"}, 6},
		{"fe80::1%eth0", []string{"link-local.example"}, 7},
		{"10.0.0.5", []string{"KUMA-2.Local"}, 8},
		{"10.0.0.11", []string{"absolute.example."}, 12},
	}
	if len(f.Entries) != len(want) {
		t.Fatalf("got %d entries %+v, want %d", len(f.Entries), f.Entries, len(want))
	}
	for i, w := range want {
		e := f.Entries[i]
		if e.IP != netip.MustParseAddr(w.ip) || !slices.Equal(e.Names, w.names) || e.Line != w.line {
			t.Errorf("entry %d = %v %q line %d, want %s %q line %d", i, e.IP, e.Names, e.Line, w.ip, w.names, w.line)
		}
	}
	if z := f.Entries[3].IP.Zone(); z != "eth0" {
		t.Errorf("zone = %q, want eth0", z)
	}
}

func TestParseProblems(t *testing.T) {
	f := parseSample(t)
	wantLines := []int{9, 10, 11}
	if len(f.Problems) != len(wantLines) {
		t.Fatalf("problems = %v, want lines %v", f.Problems, wantLines)
	}
	for i, p := range f.Problems {
		if p.Line != wantLines[i] {
			t.Errorf("problem %d on line %d, want %d", i, p.Line, wantLines[i])
		}
		if prefix := "/etc/hosts:" + strconv.Itoa(wantLines[i]) + ": "; !strings.HasPrefix(p.Error(), prefix) {
			t.Errorf("error %q does not start with %q", p.Error(), prefix)
		}
	}
	if !strings.Contains(f.Problems[0].Msg, "300.1.1.1") {
		t.Errorf("bad-IP message %q does not name the address", f.Problems[0].Msg)
	}
	if !strings.Contains(f.Problems[1].Msg, "no host name") {
		t.Errorf("no-name message %q", f.Problems[1].Msg)
	}
}

func TestLookup(t *testing.T) {
	f := parseSample(t)
	cases := []struct {
		name  string
		lines []int
	}{
		{"localhost", []int{2, 6}},
		{"LOCALHOST", []int{2, 6}},
		{"kuma-2.local", []int{8}},
		{"kuma-1", []int{3}},
		{"absolute.example", []int{12}},
		{"kuma-2.local.", []int{8}},
		{"bad-ip.example", nil},
		{"nothere.example", nil},
	}
	for _, c := range cases {
		var got []int
		for _, e := range f.Lookup(c.name) {
			got = append(got, e.Line)
		}
		if !slices.Equal(got, c.lines) {
			t.Errorf("Lookup(%q) lines = %v, want %v", c.name, got, c.lines)
		}
	}
	if s := f.Entries[4].Spelling("kuma-2.local"); s != "KUMA-2.Local" {
		t.Errorf("Spelling = %q, want KUMA-2.Local", s)
	}
	if s := f.Entries[4].Spelling("other"); s != "" {
		t.Errorf("Spelling of absent name = %q, want empty", s)
	}
}

func TestLongLineIsAProblemNotAFailure(t *testing.T) {
	in := "10.0.0.1 " + strings.Repeat("a", MaxLineLen) + "\n10.0.0.2 ok.example\n"
	f, err := Parse("h", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Problems) != 1 || f.Problems[0].Line != 1 {
		t.Fatalf("problems = %v, want one on line 1", f.Problems)
	}
	if len(f.Entries) != 1 || f.Entries[0].Line != 2 {
		t.Fatalf("entries = %v, want the line-2 entry", f.Entries)
	}
}

func TestTooLarge(t *testing.T) {
	line := "10.0.0.1 host.example\n"
	in := strings.Repeat(line, MaxFileSize/len(line)+1)
	_, err := Parse("big", strings.NewReader(in))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if !strings.Contains(err.Error(), "big") {
		t.Errorf("error %q does not name the file", err)
	}
	// Exactly at the cap is fine.
	ok := strings.Repeat("#", MaxFileSize)
	if _, err := Parse("cap", strings.NewReader(ok)); err != nil {
		t.Errorf("file of exactly MaxFileSize bytes: %v", err)
	}
}

func TestReadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(p, []byte("127.0.30.1 kuma-core-1.example.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != p || len(f.Lookup("kuma-core-1.example.com")) != 1 {
		t.Fatalf("ReadFile = %+v", f)
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file err = %v, want ErrNotExist", err)
	}
	// Not a regular file (a FIFO would block open(2)): refused at once.
	if _, err := ReadFile(os.DevNull); !errors.Is(err, yamlstrict.ErrNotRegular) {
		t.Errorf("%s: err = %v, want ErrNotRegular", os.DevNull, err)
	}
}
