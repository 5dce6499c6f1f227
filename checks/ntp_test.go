package checks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func ntpCheck(servers ...string) *NTP {
	return &NTP{Servers: servers, Warn: 100 * time.Millisecond, Crit: time.Second, Timeout: time.Second}
}

func TestNTPAgainstFakeServer(t *testing.T) {
	cases := []struct {
		name string
		skew time.Duration
		want Status
	}{
		{"in sync", 0, OK},
		{"slightly ahead", 20 * time.Millisecond, OK},
		{"warn ahead", 400 * time.Millisecond, Warn},
		{"warn behind", -400 * time.Millisecond, Warn},
		{"crit ahead", 40 * time.Second, Crit},
		{"crit behind", -5 * time.Second, Crit},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := startFakeNTP(t, c.skew, 2)
			r := ntpCheck(srv).Run(context.Background())
			if r.Status != c.want {
				t.Fatalf("status = %v, want %v: %+v", r.Status, c.want, r)
			}
			if c.want != OK && !strings.Contains(r.Remedy, "chronyc makestep") {
				t.Errorf("remedy %q lacks chronyc makestep", r.Remedy)
			}
			if c.want == OK && r.Remedy != "" {
				t.Errorf("OK result has remedy %q", r.Remedy)
			}
			if !linesContain(r.Details, srv+": offset") {
				t.Errorf("details %q do not name server %s", r.Details, srv)
			}
		})
	}
}

func TestNTPMeasuresInjectedSkew(t *testing.T) {
	skew := 3 * time.Second
	srv := startFakeNTP(t, skew, 2)
	off, err := (&NTP{Timeout: time.Second}).sntpQuery(context.Background(), srv)
	if err != nil {
		t.Fatal(err)
	}
	if d := (off - skew).Abs(); d > 50*time.Millisecond {
		t.Fatalf("measured offset %v, injected %v", off, skew)
	}
}

func TestNTPUnreachable(t *testing.T) {
	a, b := closedUDPPort(t), closedUDPPort(t)
	c := ntpCheck(a, b)
	c.Timeout = 300 * time.Millisecond
	r := c.Run(context.Background())
	if r.Status != Unknown {
		t.Fatalf("status = %v, want unknown: %+v", r.Status, r)
	}
	for _, s := range []string{a, b} {
		if !linesContain(r.Details, s+": unreachable") {
			t.Errorf("details %q lack the reason for %s", r.Details, s)
		}
	}
	if r.Remedy == "" {
		t.Error("no remedy")
	}
}

func TestNTPPartial(t *testing.T) {
	good := startFakeNTP(t, 5*time.Second, 2)
	dead := closedUDPPort(t)
	c := ntpCheck(dead, good)
	c.Timeout = 300 * time.Millisecond
	r := c.Run(context.Background())
	if r.Status != Crit {
		t.Fatalf("status = %v, want crit from the answering server: %+v", r.Status, r)
	}
	if !linesContain(r.Details, dead+": unreachable") {
		t.Errorf("details %q do not list the unreachable server", r.Details)
	}
	if !strings.Contains(r.Message, "1 of 2") {
		t.Errorf("message %q does not say how many answered", r.Message)
	}
}

func TestNTPRejectsUnusableAnswer(t *testing.T) {
	kod := startFakeNTP(t, 0, 0) // stratum 0: kiss-o'-death
	r := ntpCheck(kod).Run(context.Background())
	if r.Status != Unknown {
		t.Fatalf("status = %v, want unknown for an invalid answer: %+v", r.Status, r)
	}
	if !linesContain(r.Details, kod+": unreachable") || !strings.Contains(strings.Join(r.Details, " "), "unusable") {
		t.Errorf("details %q do not explain the invalid answer", r.Details)
	}
}

func TestNTPHonoursContext(t *testing.T) {
	// A socket that reads but never answers.
	silent := listenSilentUDP(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	c := ntpCheck(silent)
	c.Timeout = time.Minute
	r := c.Run(ctx)
	if r.Status != Unknown || !strings.Contains(strings.Join(r.Details, " "), "context canceled") {
		t.Fatalf("want unknown with context canceled, got %+v", r)
	}
}

func TestNTPMedian(t *testing.T) {
	offsets := map[string]time.Duration{"a": 0, "b": 10 * time.Millisecond, "c": 10 * time.Second, "d": -20 * time.Second}
	query := func(_ context.Context, s string) (time.Duration, error) {
		if off, ok := offsets[s]; ok {
			return off, nil
		}
		return 0, errors.New("no route")
	}
	cases := []struct {
		servers []string
		want    Status
	}{
		{[]string{"a", "b", "c"}, OK},      // one falseticker is outvoted
		{[]string{"a", "c", "c"}, Crit},    // most servers disagree with us
		{[]string{"a", "d"}, Crit},         // mean of middle two: -10s
		{[]string{"b", "x", "y"}, OK},      // two unreachable, one fine
		{[]string{"c", "a", "b", "d"}, OK}, // middle two 0 and 10ms
	}
	for _, c := range cases {
		n := ntpCheck(c.servers...)
		n.Query = query
		if r := n.Run(context.Background()); r.Status != c.want {
			t.Errorf("servers %v: status %v, want %v (%s)", c.servers, r.Status, c.want, r.Message)
		}
	}
}

func TestNTPServersFromConf(t *testing.T) {
	srv := startFakeNTP(t, 2*time.Second, 2)
	host, port, _ := splitNTPServer(srv)
	dir := t.TempDir()
	conf := filepath.Join(dir, "chrony.conf")
	writeCheckInput(t, conf, "# test\nserver "+host+" iburst port "+port+"\n")
	n := &NTP{ConfFiles: []string{filepath.Join(dir, "missing.conf"), conf}, Timeout: time.Second}
	r := n.Run(context.Background())
	if r.Status != Crit {
		t.Fatalf("status = %v, want crit (2s skew, default limits): %+v", r.Status, r)
	}
	if !linesContain(r.Details, "servers from "+conf) {
		t.Errorf("details %q do not name the conf file", r.Details)
	}
}

func TestNTPNoServers(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "chrony.conf")
	writeCheckInput(t, empty, "driftfile /var/lib/chrony/drift\nmakestep 1 3\n")
	for _, files := range [][]string{nil, {filepath.Join(dir, "nope")}, {empty}} {
		r := (&NTP{ConfFiles: files}).Run(context.Background())
		if r.Status != Unknown {
			t.Errorf("conf %v: status %v, want unknown", files, r.Status)
		}
		if !strings.Contains(r.Remedy, "checks.ntp.servers") || !strings.Contains(r.Remedy, "chrony") {
			t.Errorf("conf %v: remedy %q", files, r.Remedy)
		}
	}
}

func TestSplitNTPServer(t *testing.T) {
	cases := []struct{ in, host, port string }{
		{"ntp.example.com", "ntp.example.com", "123"},
		{"10.0.0.1:11123", "10.0.0.1", "11123"},
		{"[::1]:123", "::1", "123"},
		{"fe80::1", "fe80::1", "123"},
	}
	for _, c := range cases {
		h, p, err := splitNTPServer(c.in)
		if err != nil || h != c.host || p != c.port {
			t.Errorf("splitNTPServer(%q) = %q %q %v, want %q %q", c.in, h, p, err, c.host, c.port)
		}
	}
	for _, bad := range []string{"", ":123", "host:"} {
		if _, _, err := splitNTPServer(bad); err == nil {
			t.Errorf("splitNTPServer(%q) accepted", bad)
		}
	}
}

func linesContain(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func writeCheckInput(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
