package alerts

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/testlab"
	"github.com/kuma-agent/kuma-agent/internal/testlab/testpki"
)

// rsyslogConf has rsyslog take syslog on loopback TCP (octet counting is
// on by default) and UDP, and write one line per message with the parts
// this test checks, tab-separated, the MSG last.
const rsyslogConf = `global(workDirectory="%[1]s")
module(load="imtcp")
module(load="imudp")
input(type="imtcp" address="127.0.0.1" port="%[2]d")
input(type="imudp" address="127.0.0.1" port="%[3]d")
template(name="fields" type="string" string="%%syslogfacility%%\t%%syslogseverity%%\t%%hostname%%\t%%app-name%%\t%%msgid%%\t%%inputname%%\t%%msg%%\n")
action(type="omfile" file="%[1]s/received.log" template="fields")
`

// startRsyslog runs Debian's rsyslogd in the foreground with its own config
// on loopback ports; it returns the TCP and UDP addresses and the file it
// writes.
func startRsyslog(t *testing.T) (tcpAddr, udpAddr, out string) {
	t.Helper()
	bin := testlab.ToolPath(t, "rsyslogd")
	dir := t.TempDir()
	tcpPort, udpPort := testlab.FreePort(t, "tcp"), testlab.FreePort(t, "udp")
	conf := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(rsyslogConf, dir, tcpPort, udpPort)), 0o644); err != nil {
		t.Fatal(err)
	}
	d := testlab.StartDaemon(t, bin, "-n", "-f", conf, "-i", filepath.Join(dir, "rsyslogd.pid"))
	tcpAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(tcpPort))
	// Ready once it accepts TCP (it opens UDP before).
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", tcpAddr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-d.Exited():
			t.Fatalf("rsyslogd exited:\n%s", d.Output.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslogd does not listen on %s: %v\n%s", tcpAddr, err, d.Output.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return tcpAddr, net.JoinHostPort("127.0.0.1", strconv.Itoa(udpPort)), filepath.Join(dir, "received.log")
}

func cefConfig(actions map[string]Action) *Config {
	names := make([]string, 0, len(actions))
	for n, a := range actions {
		names = append(names, n)
		if a.Timeout == 0 {
			a.Timeout = 5 * time.Second
		}
		a.Backoff, a.MaxBackoff = 50*time.Millisecond, time.Second
		actions[n] = a
	}
	return &Config{QueueSize: 16, Rules: []Rule{{Name: "all", Actions: names}}, Actions: actions}
}

// receivedLine is one line of rsyslog's file: the fields of rsyslogConf.
type receivedLine struct {
	facility, severity, host, app, msgid, input, msg string
	cef                                              cefRecord
}

// An injected critical check reaches a real rsyslog, over TCP with octet
// counting and over UDP, as exactly one well-formed CEF line each, with the
// header and the extensions of the mapping and every escape intact.
func TestCEFReachesRsyslog(t *testing.T) {
	tcpAddr, udpAddr, out := startRsyslog(t)
	crit := checkEvent(t, "kuma-core-1.example.com", "ntp", "crit", events.SeverityCritical, awkward)
	joined, err := events.New("prod", "kuma-core-2.example.com", events.MemberJoined, "kuma-core-3.example.com", events.SeverityInfo,
		events.MemberData{Member: "kuma-core-3.example.com", Addr: "10.0.0.3:7946", Status: "alive"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a := New(cefConfig(map[string]Action{
		"kuma-tcp": {Type: ActionCEF, Address: tcpAddr, Transport: "tcp", Retries: 3},
		"kuma-udp": {Type: ActionCEF, Address: udpAddr, Transport: "udp", Retries: 3},
	}), discardLog())
	a.Version = "1.2.3"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Run(ctx, sliceSource{crit, joined}); err != nil {
		t.Fatal(err)
	}
	for name, st := range a.Stats() {
		if st.Delivered != 2 || st.Failed != 0 {
			t.Fatalf("%s: %+v", name, st)
		}
	}

	var lines []receivedLine
	deadline := time.Now().Add(20 * time.Second)
	for len(lines) < 4 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		lines = readReceived(t, out)
	}
	if len(lines) != 4 {
		t.Fatalf("rsyslog wrote %d lines, want 4 (2 events x tcp, udp): %+v", len(lines), lines)
	}
	byKey := map[string]receivedLine{}
	for _, l := range lines {
		byKey[l.input+" "+l.cef.Ext["externalId"]] = l
	}
	for _, input := range []string{"imtcp", "imudp"} {
		l, ok := byKey[input+" "+crit.ID]
		if !ok {
			t.Fatalf("%s: no line with externalId %s: %+v", input, crit.ID, lines)
		}
		if l.facility != "3" || l.severity != "2" || l.host != "kuma-core-1.example.com" || l.app != "kuma-agent" || l.msgid != "check.status_changed" {
			t.Errorf("%s: syslog header %+v", input, l)
		}
		t.Logf("rsyslog %s received: %s", input, l.msg)
		wantHeader := [7]string{"0", "kuma-agent", "kuma-agent", "1.2.3", "1001", "Node check status changed: ntp", "9"}
		if l.cef.Header != wantHeader {
			t.Errorf("%s: CEF header %q, want %q", input, l.cef.Header, wantHeader)
		}
		if l.cef.Ext["msg"] != expectedValue(awkward) || l.cef.Ext["cs1"] != "ntp" || l.cef.Ext["cs4"] != "crit" || l.cef.Ext["dhost"] != "kuma-core-1.example.com" {
			t.Errorf("%s: extensions %q", input, l.cef.Ext)
		}
		m, ok := byKey[input+" "+joined.ID]
		if !ok || m.severity != "6" || m.cef.Header[4] != "2001" || m.cef.Header[6] != "3" || m.cef.Ext["src"] != "10.0.0.3" || m.cef.Ext["dhost"] != "kuma-core-3.example.com" {
			t.Errorf("%s: member.joined line %+v", input, m)
		}
	}
}

// readReceived parses every line rsyslog wrote so far; a line that is not
// seven fields with a strict CEF message fails the test.
func readReceived(t *testing.T, path string) []receivedLine {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []receivedLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		p := strings.SplitN(sc.Text(), "\t", 7)
		if len(p) != 7 {
			t.Fatalf("rsyslog line %q: %d fields", sc.Text(), len(p))
		}
		l := receivedLine{facility: p[0], severity: p[1], host: p[2], app: p[3], msgid: p[4], input: p[5], msg: p[6]}
		if l.cef, err = parseCEF(l.msg); err != nil {
			t.Fatalf("rsyslog got a bad CEF line: %v\n%q", err, l.msg)
		}
		out = append(out, l)
	}
	return out
}

// Over TLS the frames are the same octet-counted messages; the collector's
// certificate is checked against ca_file and server_name, and a collector
// that closed the connection gets a new one rather than a lost event.
func TestCEFOverTLSReconnects(t *testing.T) {
	dir := t.TempDir()
	cert, caFile := testpki.ServerCert(t, dir, "collector.test")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	frames := make(chan string, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// One frame per connection, closed before it is reported: the
			// next event must find the connection closed and dial again.
			r := bufio.NewReader(c)
			var frame string
			if n, err := r.ReadString(' '); err == nil {
				size, _ := strconv.Atoi(strings.TrimSpace(n))
				buf := make([]byte, size)
				if _, err := io.ReadFull(r, buf); err == nil {
					frame = string(buf)
				}
			}
			c.Close()
			frames <- frame
		}
	}()
	ev1 := checkEvent(t, "core-1", "ntp", "crit", events.SeverityCritical, "one")
	ev2 := checkEvent(t, "core-1", "disk", "crit", events.SeverityCritical, "two")
	act := Action{Type: ActionCEF, Address: ln.Addr().String(), Transport: "tls", CAFile: caFile, ServerName: "collector.test", Retries: 2}
	a := New(cefConfig(map[string]Action{"kuma": act}), discardLog())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var first string
	src := funcSource(func(ctx context.Context, fn func(events.Event) error) error {
		if err := fn(ev1); err != nil {
			return err
		}
		first = <-frames
		return fn(ev2)
	})
	if err := a.Run(ctx, src); err != nil {
		t.Fatal(err)
	}
	second := <-frames
	if !strings.Contains(first, "cs1=ntp") || !strings.Contains(second, "cs1=disk") {
		t.Errorf("frames %q, %q", first, second)
	}
	for _, f := range []string{first, second} {
		if m := rfc5424.FindStringSubmatch(f); m == nil {
			t.Errorf("not an RFC 5424 message: %q", f)
		} else if _, err := parseCEF(m[5]); err != nil {
			t.Error(err)
		}
	}
	if st := a.Stats()["kuma"]; st.Delivered != 2 || st.Failed != 0 {
		t.Errorf("stats %+v", st)
	}

	// A collector whose certificate does not match server_name: refused.
	act.ServerName = "other.test"
	act.Retries = 0
	b := New(cefConfig(map[string]Action{"kuma": act}), discardLog())
	if err := b.Run(ctx, sliceSource{ev1}); err != nil {
		t.Fatal(err)
	}
	if st := b.Stats()["kuma"]; st.Failed != 1 {
		t.Errorf("wrong server name: stats %+v, want one failure", st)
	}
}
