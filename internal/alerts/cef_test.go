package alerts

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// cefRecord is a CEF line as the strict parser reads it.
type cefRecord struct {
	Header [7]string // version, vendor, product, device version, class id, name, severity
	Ext    map[string]string
	Keys   []string // in order
}

var cefKey = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// parseCEF reads line as the CEF specification (ArcSight CEF 25) writes it,
// strictly: "CEF:" then seven '|'-separated header fields in which only \|
// and \\ are escapes, version 0, severity 0-10, then key=value extensions in
// which only \\, \=, \n and \r are escapes, a raw '=' appears only after a
// key, keys are alphanumeric, none twice, a csN only with its csNLabel; no
// raw line break anywhere.
func parseCEF(line string) (cefRecord, error) {
	var r cefRecord
	if strings.ContainsAny(line, "\r\n") {
		return r, errors.New("raw line break")
	}
	rest, ok := strings.CutPrefix(line, "CEF:")
	if !ok {
		return r, errors.New(`no "CEF:" prefix`)
	}
	for f := 0; f < 7; f++ {
		var b strings.Builder
		i := 0
		for ; i < len(rest) && rest[i] != '|'; i++ {
			if rest[i] == '\\' {
				if i+1 >= len(rest) || (rest[i+1] != '|' && rest[i+1] != '\\') {
					return r, fmt.Errorf("header field %d: bad escape in %q", f, rest)
				}
				i++
			}
			b.WriteByte(rest[i])
		}
		if i == len(rest) {
			return r, fmt.Errorf("header field %d: no closing '|'", f)
		}
		r.Header[f] = b.String()
		rest = rest[i+1:]
	}
	if r.Header[0] != "0" {
		return r, fmt.Errorf("version %q", r.Header[0])
	}
	if n, err := strconv.Atoi(r.Header[6]); err != nil || n < 0 || n > 10 {
		return r, fmt.Errorf("severity %q", r.Header[6])
	}
	for f := 1; f < 6; f++ {
		if r.Header[f] == "" {
			return r, fmt.Errorf("header field %d empty", f)
		}
	}
	r.Ext = map[string]string{}
	if rest == "" {
		return r, nil
	}
	// Unescaped '=' end keys: a key is the word before one.
	var eqs []int
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case '\\':
			i++
		case '=':
			eqs = append(eqs, i)
		}
	}
	if len(eqs) == 0 {
		return r, fmt.Errorf("extension %q has no key", rest)
	}
	keyStart := func(eq int) int { return strings.LastIndexByte(rest[:eq], ' ') + 1 }
	if keyStart(eqs[0]) != 0 {
		return r, fmt.Errorf("extension starts with %q, not a key", rest[:eqs[0]])
	}
	for n, eq := range eqs {
		ks := keyStart(eq)
		if n > 0 && ks <= eqs[n-1] {
			return r, fmt.Errorf("raw '=' in a value near %q", rest[eqs[n-1]:eq+1])
		}
		key := rest[ks:eq]
		if !cefKey.MatchString(key) {
			return r, fmt.Errorf("bad key %q", key)
		}
		end := len(rest)
		if n+1 < len(eqs) {
			end = keyStart(eqs[n+1]) - 1
		}
		if end <= eq+1 {
			return r, fmt.Errorf("key %s: no value", key)
		}
		v, err := cefUnescapeValue(rest[eq+1 : end])
		if err != nil {
			return r, fmt.Errorf("key %s: %w", key, err)
		}
		if _, dup := r.Ext[key]; dup {
			return r, fmt.Errorf("key %s twice", key)
		}
		r.Ext[key] = v
		r.Keys = append(r.Keys, key)
	}
	for k := range r.Ext {
		if strings.HasPrefix(k, "cs") && !strings.HasSuffix(k, "Label") {
			if _, ok := r.Ext[k+"Label"]; !ok {
				return r, fmt.Errorf("%s without %sLabel", k, k)
			}
		}
	}
	return r, nil
}

func cefUnescapeValue(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return "", errors.New("trailing backslash")
		}
		i++
		switch s[i] {
		case '\\', '=':
			b.WriteByte(s[i])
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		default:
			return "", fmt.Errorf("bad escape \\%c", s[i])
		}
	}
	return b.String(), nil
}

// The parser is strict: it refuses what a lax one would take.
func TestParseCEFIsStrict(t *testing.T) {
	good := `CEF:0|v|p|1.0|1001|Name \| x \\ y|9|rt=1 msg=a b\=c \\ d\nx|y cs1Label=check cs1=ntp`
	r, err := parseCEF(good)
	if err != nil {
		t.Fatal(err)
	}
	if r.Header[5] != `Name | x \ y` || r.Ext["msg"] != "a b=c \\ d\nx|y" || r.Ext["cs1"] != "ntp" || strings.Join(r.Keys, ",") != "rt,msg,cs1Label,cs1" {
		t.Errorf("parsed %+v", r)
	}
	for _, bad := range []string{
		`CEF:1|v|p|1|1|n|9|`,            // version
		`CEF:0|v|p|1|1|n|11|`,           // severity
		`CEF:0|v|p|1|1|n|high|`,         // severity
		`CEF:0|v|p|1|1|n|9`,             // 6 pipes
		`CEF:0|v|p|1|1|a\b|9|`,          // header escape
		`CEF:0|v||1|1|n|9|`,             // empty product
		"CEF:0|v|p|1|1|n|9|msg=a\nb",    // raw newline
		`CEF:0|v|p|1|1|n|9|msg=a=b`,     // raw '=' in a value
		`CEF:0|v|p|1|1|n|9|msg=a\tb`,    // unknown escape
		`CEF:0|v|p|1|1|n|9|msg=a\`,      // trailing backslash
		`CEF:0|v|p|1|1|n|9|junk msg=a`,  // no key first
		`CEF:0|v|p|1|1|n|9|msg=a msg=b`, // key twice
		`CEF:0|v|p|1|1|n|9|cs1=a`,       // cs1 without label
		`CEF:0|v|p|1|1|n|9|b-d=a`,       // bad key
		`CEF:0|v|p|1|1|n|9|msg= rt=`,    // empty values (the encoder leaves them out)
		`LEEF:0|v|p|1|1|n|9|`,           // not CEF
	} {
		if _, err := parseCEF(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func checkEvent(t testing.TB, node, check, to string, sev events.Severity, message string) events.Event {
	t.Helper()
	ev, err := events.New("prod", node, events.CheckStatusChanged, check, sev,
		events.CheckData{Check: check, From: "ok", To: to, Message: message, Remedy: "run `chronyc tracking`"},
		time.Date(2026, 11, 23, 12, 0, 0, 123e6, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// awkward holds every character CEF escapes, in header and extension.
const awkward = "offset 3.2s | a=b \\ path\nsecond line\r\x1b[2J"

func TestCEFLineMapsACriticalCheck(t *testing.T) {
	ev := checkEvent(t, "kuma-core-1.example.com", "ntp", "crit", events.SeverityCritical, awkward)
	ev.Subject = "ntp|x\\y\nz"
	line := cefLine(ev, "1.2.3")
	r, err := parseCEF(line)
	if err != nil {
		t.Fatalf("%v\n%s", err, line)
	}
	want := [7]string{"0", "kuma-agent", "kuma-agent", "1.2.3", "1001", "Node check status changed: ntp|x\\y z", "9"}
	if r.Header != want {
		t.Errorf("header %q, want %q", r.Header, want)
	}
	for k, v := range map[string]string{
		"rt": strconv.FormatInt(ev.Time.UnixMilli(), 10), "externalId": ev.ID, "cat": "check.status_changed",
		"dvchost": "kuma-core-1.example.com", "dhost": "kuma-core-1.example.com",
		"msg":      "offset 3.2s | a=b \\ path\nsecond line\r [2J",
		"cs1Label": "check", "cs1": "ntp", "cs2Label": "cluster", "cs2": "prod", "cs4Label": "status", "cs4": "crit",
		"cs5Label": "previous", "cs5": "ok", "cs6Label": "remedy", "cs6": "run `chronyc tracking`",
	} {
		if r.Ext[k] != v {
			t.Errorf("%s = %q, want %q", k, r.Ext[k], v)
		}
	}
	for _, absent := range []string{"src", "cs3", "cs3Label", "outcome"} {
		if _, ok := r.Ext[absent]; ok {
			t.Errorf("%s present for a check event: %q", absent, r.Ext[absent])
		}
	}
}

func TestCEFLineMapsMembersAndClusterFindings(t *testing.T) {
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	member, _ := events.New("prod", "core-1", events.MemberFailed, "core-2", events.SeverityCritical,
		events.MemberData{Member: "core-2", Addr: "10.0.0.2:7946", Status: "failed"}, at)
	one, _ := events.New("prod", "core-1", events.ClusterStatusChanged, "cluster-clock", events.SeverityWarning,
		events.ClusterCheckData{Check: "cluster-clock", Status: "warn", Previous: "ok", Transition: "raised", Message: "skew", Nodes: []string{"core-3"}, Evaluator: "core-1"}, at)
	many, _ := events.New("prod", "core-1", events.ClusterStatusChanged, "cluster-reachability", events.SeverityInfo,
		events.ClusterCheckData{Check: "cluster-reachability", Status: "ok", Previous: "crit", Transition: "cleared", Nodes: []string{"core-2", "core-3"}}, at)
	odd := member
	odd.Type = events.TypePrefix + "future.thing"
	odd.Severity = "weird"
	for _, tc := range []struct {
		ev       events.Event
		class    string
		sev      string
		ext      map[string]string
		noDhost  bool
		nameHead string
	}{
		{member, "2002", "9", map[string]string{"dhost": "core-2", "src": "10.0.0.2", "dvchost": "core-1"}, false, "Member failed: core-2"},
		{one, "1002", "6", map[string]string{"dhost": "core-3", "outcome": "raised", "cs3": "core-3", "cs4": "warn", "cs5": "ok"}, false, "Cluster check status changed"},
		{many, "1002", "3", map[string]string{"outcome": "cleared", "cs3": "core-2,core-3", "cs4": "ok"}, true, "Cluster check status changed"},
		{odd, "9999", "5", map[string]string{"cat": "future.thing"}, false, "Unknown event type future.thing: core-2"},
	} {
		r, err := parseCEF(cefLine(tc.ev, "v"))
		if err != nil {
			t.Fatalf("%s: %v", tc.ev.Type, err)
		}
		if r.Header[4] != tc.class || r.Header[6] != tc.sev || !strings.HasPrefix(r.Header[5], tc.nameHead) {
			t.Errorf("%s: header %q", tc.ev.Type, r.Header)
		}
		for k, v := range tc.ext {
			if r.Ext[k] != v {
				t.Errorf("%s: %s = %q, want %q", tc.ev.Type, k, r.Ext[k], v)
			}
		}
		if _, ok := r.Ext["dhost"]; ok == tc.noDhost {
			t.Errorf("%s: dhost %q (a finding about several nodes has none)", tc.ev.Type, r.Ext["dhost"])
		}
	}
}

// Every event type has a class; ids are unique and numeric.
func TestCEFClassesCoverEveryType(t *testing.T) {
	seen := map[string]events.Type{}
	for _, typ := range events.Types {
		c, ok := cefClasses[typ]
		if !ok {
			t.Errorf("%s has no CEF class: add it to cefClasses and to README's table", typ)
			continue
		}
		if _, err := strconv.Atoi(c.ID); err != nil || c.Name == "" {
			t.Errorf("%s: class %+v", typ, c)
		}
		if other, dup := seen[c.ID]; dup {
			t.Errorf("class id %s used by %s and %s", c.ID, other, typ)
		}
		seen[c.ID] = typ
	}
	if len(cefClasses) != len(events.Types) {
		t.Errorf("%d classes for %d types", len(cefClasses), len(events.Types))
	}
}

// A value longer than cefMaxField is cut on a rune boundary and says so.
func TestCEFCutsLongValues(t *testing.T) {
	long := strings.Repeat("é", cefMaxField)
	r, err := parseCEF(cefLine(checkEvent(t, "n", "c", "crit", events.SeverityCritical, long), "v"))
	if err != nil {
		t.Fatal(err)
	}
	if m := r.Ext["msg"]; len(m) > cefMaxField || !strings.HasSuffix(m, "...") || !strings.HasPrefix(m, "éé") || strings.ContainsRune(m, '\uFFFD') {
		t.Errorf("cut msg: %d bytes %q...", len(m), m[:10])
	}
}

var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\S+) (\S+) kuma-agent - (\S+) - (CEF:.*)$`)

func TestSyslogMessageIsRFC5424(t *testing.T) {
	ev := checkEvent(t, "kuma core\x01", "ntp", "crit", events.SeverityCritical, "m")
	m := rfc5424.FindStringSubmatch(string(syslogMessage(ev, "v")))
	if m == nil {
		t.Fatalf("not RFC 5424: %q", syslogMessage(ev, "v"))
	}
	if m[1] != "26" || m[2] != "2026-11-23T12:00:00.123000Z" || m[3] != "kuma_core_" || m[4] != "check.status_changed" {
		t.Errorf("pri %s time %s host %s msgid %s", m[1], m[2], m[3], m[4])
	}
	if _, err := parseCEF(m[5]); err != nil {
		t.Error(err)
	}
}

// expectedValue is what an extension value becomes after escaping and
// parsing: cut, valid UTF-8, control characters but line breaks as spaces.
func expectedValue(s string) string {
	return strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\n' && r != '\r') || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(cefCut(s), "\uFFFD"))
}

// Whatever a check's message, subject and node hold, the line parses
// strictly, stays one line, and the message comes back.
func FuzzCEFLine(f *testing.F) {
	f.Add(awkward, "ntp|\\", "core-1")
	f.Add("", "", "")
	f.Add("a=b=c\\=", "x\r\ny", "n\xff")
	f.Fuzz(func(t *testing.T, msg, subject, node string) {
		ev := checkEvent(t, "n", "ntp", "crit", events.SeverityCritical, msg)
		ev.Subject = subject
		ev.Source = "kuma-agent/prod/" + node
		line := cefLine(ev, "v")
		r, err := parseCEF(line)
		if err != nil {
			t.Fatalf("%v\n%q", err, line)
		}
		// The message reaches the line through the event's JSON data, which
		// makes each invalid UTF-8 byte a U+FFFD.
		var viaJSON string
		b, _ := json.Marshal(msg)
		if err := json.Unmarshal(b, &viaJSON); err != nil {
			t.Fatal(err)
		}
		if want := expectedValue(viaJSON); want != "" && r.Ext["msg"] != want {
			t.Errorf("msg %q, want %q", r.Ext["msg"], want)
		}
		if m := rfc5424.FindStringSubmatch(string(syslogMessage(ev, "v"))); m == nil || m[5] != line {
			t.Errorf("syslog message %q", syslogMessage(ev, "v"))
		}
	})
}
