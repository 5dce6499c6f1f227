package checks

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseNTPConfSyntaxes(t *testing.T) {
	cases := []struct {
		name, conf string
		want       []string
	}{
		{"chrony", "# comment\n! also comment\npool 2.debian.pool.ntp.org iburst\nserver ntp1.example.com iburst prefer\n" +
			"server 10.0.0.1 port 11123\nmakestep 1 3\nserver\n", []string{"2.debian.pool.ntp.org", "ntp1.example.com", "10.0.0.1:11123"}},
		{"ntpd", "driftfile /var/lib/ntp/drift\nserver -4 ntp.example.org iburst\nserver 127.127.1.0 # local clock\n" +
			"fudge 127.127.1.0 stratum 10\npool 0.debian.pool.ntp.org iburst\n", []string{"ntp.example.org", "0.debian.pool.ntp.org"}},
		{"timesyncd", "[Time]\nNTP=ntp1.example.com ntp2.example.com\n#NTP=commented.example.com\nFallbackNTP = 0.debian.pool.ntp.org\nRootDistanceMaxSec=5\n",
			[]string{"ntp1.example.com", "ntp2.example.com", "0.debian.pool.ntp.org"}},
		{"crlf", "server a.example.com iburst\r\nserver b.example.com\r\n", []string{"a.example.com", "b.example.com"}},
		{"nothing", "\n\n   \n# only comments\n", nil},
	}
	for _, c := range cases {
		lines, err := parseNTPConf(c.name, strings.NewReader(c.conf))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var got []string
		for _, l := range lines {
			if l.kind == ntpConfServer {
				got = append(got, l.value)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: servers %q, want %q", c.name, got, c.want)
		}
	}
}

func TestReadNTPConfFollowsSourcedir(t *testing.T) {
	dir := t.TempDir()
	sources := filepath.Join(dir, "sources.d")
	main := filepath.Join(dir, "chrony.conf")
	writeCheckInput(t, main, "pool 2.debian.pool.ntp.org iburst\nsourcedir "+sources+"\nconfdir "+dir+"/conf.d\n")
	writeCheckInput(t, filepath.Join(sources, "b.sources"), "server b.example.com iburst\n")
	writeCheckInput(t, filepath.Join(sources, "a.sources"), "server a.example.com iburst\npool 2.debian.pool.ntp.org\n")
	writeCheckInput(t, filepath.Join(sources, "ignored.txt"), "server ignored.example.com\n")
	writeCheckInput(t, filepath.Join(dir, "conf.d", "loop.conf"), "confdir "+dir+"/conf.d\nserver c.example.com\n")

	got := ReadNTPConf([]string{filepath.Join(dir, "absent.conf"), main})
	want := []string{"2.debian.pool.ntp.org", "a.example.com", "b.example.com", "c.example.com"}
	if !slices.Equal(got.Servers, want) {
		t.Errorf("servers %q, want %q", got.Servers, want)
	}
	if len(got.Errors) != 0 {
		t.Errorf("errors %v", got.Errors)
	}
	if got.Read[0] != main || len(got.Read) != 4 {
		t.Errorf("read %q, want main first and four files", got.Read)
	}
}

func TestReadNTPConfReportsUnreadable(t *testing.T) {
	dir := t.TempDir()
	// A directory in place of a file cannot be parsed: the error must name it.
	bad := filepath.Join(dir, "chrony.conf")
	if err := os.Mkdir(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	got := ReadNTPConf([]string{bad})
	if len(got.Errors) != 1 || !strings.Contains(got.Errors[0].Error(), bad) {
		t.Fatalf("errors %v, want one naming %s", got.Errors, bad)
	}
	if len(got.Servers) != 0 {
		t.Errorf("servers %q from an unreadable file", got.Servers)
	}
}
