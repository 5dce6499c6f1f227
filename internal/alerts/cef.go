package alerts

import (
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// CEF (ArcSight Common Event Format, the format KUMA collectors take over
// syslog): the mapping of an event to one CEF line. README ("Events into
// KUMA as CEF") documents it; a KUMA normalizer keys on the class id.

// cefClass is an event type's Device Event Class ID and Name in CEF. The ids
// are stable: a KUMA normalizer or correlation rule keys on them, so one is
// never reused or renumbered.
type cefClass struct {
	ID   string
	Name string
}

// cefClasses maps every event type to its class (a test keeps it complete).
var cefClasses = map[events.Type]cefClass{
	events.CheckStatusChanged:   {"1001", "Node check status changed"},
	events.ClusterStatusChanged: {"1002", "Cluster check status changed"},
	events.MemberJoined:         {"2001", "Member joined"},
	events.MemberFailed:         {"2002", "Member failed"},
	events.MemberLeft:           {"2003", "Member left"},
	events.MemberReaped:         {"2004", "Member reaped"},
	events.MemberUpdated:        {"2005", "Member updated"},
	events.UnitStateChanged:     {"3001", "Unit state changed"},
	events.HealingProposed:      {"3101", "Healing proposed"},
	events.HealingStarted:       {"3102", "Healing started"},
	events.HealingFinished:      {"3103", "Healing finished"},
	events.HealingRefused:       {"3104", "Healing refused"},
	events.LeaseAcquired:        {"4001", "Lease acquired"},
	events.LeaseRenewed:         {"4002", "Lease renewed"},
	events.LeaseReleased:        {"4003", "Lease released"},
	events.LeaseTakenOver:       {"4004", "Lease taken over"},
	events.AgentStarted:         {"5001", "Agent started"},
	events.AgentStopping:        {"5002", "Agent stopping"},
	events.EventsDropped:        {"5003", "Events dropped"},
	events.RaftStepStarted:      {"6001", "Raft recovery step started"},
	events.RaftStepDone:         {"6002", "Raft recovery step done"},
	events.RaftStepFailed:       {"6003", "Raft recovery step failed"},
	events.TaintApplied:         {"7001", "Out-of-service taint applied"},
	events.TaintRemoved:         {"7002", "Out-of-service taint removed"},
	events.TaintWouldApply:      {"7003", "Out-of-service taint would be applied (dry-run)"},
	events.TaintWouldRemove:     {"7004", "Out-of-service taint would be removed (dry-run)"},
	events.TaintHeld:            {"7005", "Out-of-service taint held"},
	events.TaintFailed:          {"7006", "Out-of-service taint failed"},
}

// cefUnknownClass is the class of a type this build does not know (an
// event from a newer agent): delivered, not dropped; Name carries the type.
var cefUnknownClass = cefClass{ID: "9999", Name: "Unknown event type"}

// cefSeverities maps event severity to CEF's 0-10 (ArcSight: 0-3 low, 4-6
// medium, 7-8 high, 9-10 very high); an unknown severity is 5.
var cefSeverities = map[events.Severity]int{
	events.SeverityInfo:     3,
	events.SeverityWarning:  6,
	events.SeverityCritical: 9,
}

// cefVendor and cefProduct are the CEF header's device vendor and product.
const (
	cefVendor  = "kuma-agent"
	cefProduct = "kuma-agent"
)

// cefMaxField bounds one extension value (a check's message, a remedy), so
// one event stays well inside a syslog receiver's message size (rsyslog's
// default is 8 KiB); a cut value ends in "...".
const cefMaxField = 1024

// cefData is the union of the data fields the mapping reads, decoded from
// any event's data (the fields a type lacks stay empty).
type cefData struct {
	Check      string   `json:"check"`
	From       string   `json:"from"`
	To         string   `json:"to"`
	Status     string   `json:"status"`
	Previous   string   `json:"previous"`
	Transition string   `json:"transition"`
	Message    string   `json:"message"`
	Remedy     string   `json:"remedy"`
	Nodes      []string `json:"nodes"`
	Member     string   `json:"member"`
	Addr       string   `json:"addr"`
	Unit       string   `json:"unit"`
	Action     string   `json:"action"`
	Reason     string   `json:"reason"`
}

// cefExt is one extension key and value, in the order written.
type cefExt struct{ key, value string }

// cefLine is ev as one CEF line (no newline): the header, then the
// extensions. deviceVersion is the agent's version.
func cefLine(ev events.Event, deviceVersion string) string {
	class, ok := cefClasses[ev.ShortType()]
	if !ok {
		class = cefUnknownClass
	}
	name := class.Name
	if !ok {
		name += " " + string(ev.ShortType())
	}
	if ev.Subject != "" {
		name += ": " + ev.Subject
	}
	sev, ok := cefSeverities[ev.Severity]
	if !ok {
		sev = 5
	}
	var d cefData
	_ = json.Unmarshal(ev.Data, &d) // data of another shape: only the envelope is mapped

	var b strings.Builder
	b.WriteString("CEF:0")
	for _, h := range []string{cefVendor, cefProduct, deviceVersion, class.ID, name, strconv.Itoa(sev)} {
		b.WriteByte('|')
		b.WriteString(cefEscape(h, false))
	}
	b.WriteByte('|')
	for i, e := range cefExtensions(ev, d) {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(e.key)
		b.WriteByte('=')
		b.WriteString(cefEscape(cefCut(e.value), true))
	}
	return b.String()
}

// cefExtensions are the extension fields of ev, empty ones left out.
func cefExtensions(ev events.Event, d cefData) []cefExt {
	source := ev.Node()
	about := source // dhost: the node the event is about
	var src string
	switch {
	case d.Member != "":
		about = d.Member
		src = addrIP(d.Addr)
	case len(d.Nodes) == 1:
		about = d.Nodes[0]
	case len(d.Nodes) > 1:
		about = ""
	}
	cluster := ""
	if parts := strings.SplitN(ev.Source, "/", 3); len(parts) == 3 {
		cluster = parts[1]
	}
	status := d.To
	if status == "" {
		status = d.Status
	}
	prev := d.From
	if prev == "" {
		prev = d.Previous
	}
	msg := d.Message
	if msg == "" {
		msg = d.Reason
	}
	all := []cefExt{
		{"rt", strconv.FormatInt(ev.Time.UnixMilli(), 10)},
		{"externalId", ev.ID},
		{"cat", string(ev.ShortType())},
		{"dvchost", source},
		{"dhost", about},
		{"src", src},
		{"msg", msg},
		{"outcome", d.Transition},
		{"cs1Label", "check"}, {"cs1", d.Check},
		{"cs2Label", "cluster"}, {"cs2", cluster},
		{"cs3Label", "nodes"}, {"cs3", strings.Join(d.Nodes, ",")},
		{"cs4Label", "status"}, {"cs4", status},
		{"cs5Label", "previous"}, {"cs5", prev},
		{"cs6Label", "remedy"}, {"cs6", d.Remedy},
		{"act", d.Action},
		{"deviceProcessName", d.Unit},
	}
	out := all[:0]
	for i := 0; i < len(all); i++ {
		e := all[i]
		if strings.HasSuffix(e.key, "Label") {
			// A label only with its value.
			if i+1 < len(all) && all[i+1].value != "" {
				out = append(out, e, all[i+1])
			}
			i++
			continue
		}
		if e.value != "" {
			out = append(out, e)
		}
	}
	return out
}

// addrIP is the IP of a host:port or a bare IP; "" when it holds none
// (CEF's src is an IP address).
func addrIP(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.String()
	}
	return ""
}

// cefCut bounds a value to cefMaxField bytes, on a rune boundary.
func cefCut(s string) string {
	if len(s) <= cefMaxField {
		return s
	}
	cut := cefMaxField - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// cefEscape escapes a header field (ext false) or an extension value (ext
// true) as CEF says: backslash everywhere, the pipe in the header, the
// equals sign and line breaks (\n, \r) in extensions. A line break in the
// header, which has no escape for it, and every other control character
// become a space: a syslog line must stay one line, and receivers rewrite
// control characters.
func cefEscape(s string, ext bool) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '\\' || (!ext && r == '|') || (ext && r == '='):
			b.WriteByte('\\')
			b.WriteRune(r)
		case ext && r == '\n':
			b.WriteString(`\n`)
		case ext && r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
