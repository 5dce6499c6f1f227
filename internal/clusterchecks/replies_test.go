package clusterchecks

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/hostsfile"
)

func TestClockOffset(t *testing.T) {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name                   string
		sent, received, remote time.Time
		wantOffset, wantRTT    time.Duration
	}{
		{"in sync", t0, t0.Add(10 * time.Millisecond), t0.Add(5 * time.Millisecond), 0, 10 * time.Millisecond},
		{"remote ahead", t0, t0.Add(10 * time.Millisecond), t0.Add(2*time.Second + 5*time.Millisecond), 2 * time.Second, 10 * time.Millisecond},
		{"remote behind", t0, t0.Add(20 * time.Millisecond), t0.Add(-time.Second), -time.Second - 10*time.Millisecond, 20 * time.Millisecond},
		{"clock stepped back", t0, t0.Add(-time.Millisecond), t0, 0, 0},
	}
	for _, tt := range tests {
		off, rtt := ClockOffset(tt.sent, tt.received, tt.remote)
		if off != tt.wantOffset || rtt != tt.wantRTT {
			t.Errorf("%s: offset %v rtt %v, want %v %v", tt.name, off, rtt, tt.wantOffset, tt.wantRTT)
		}
	}
	if got := (TimeReply{UnixNano: t0.UnixNano()}).Time(); !got.Equal(t0) {
		t.Errorf("TimeReply.Time = %v", got)
	}
}

func TestHostsReply(t *testing.T) {
	f, err := hostsfile.Parse("hosts", strings.NewReader("10.0.0.1 kuma-1.local kuma-1\n10.0.0.9 KUMA-1.local\n10.0.0.1 kuma-1.local\n"))
	if err != nil {
		t.Fatal(err)
	}
	hv := HostsViewOf(f, []string{"kuma-1.local", "kuma-2.local"})
	if !slices.Equal(hv["kuma-1.local"], []netip.Addr{addr("10.0.0.1"), addr("10.0.0.9")}) {
		t.Errorf("kuma-1: %v", hv["kuma-1.local"])
	}
	if a, ok := hv["kuma-2.local"]; !ok || len(a) != 0 {
		t.Errorf("kuma-2: %v %v", a, ok)
	}
	b, err := EncodePayload(hv.Reply())
	if err != nil {
		t.Fatal(err)
	}
	var r HostsReply
	if err := DecodePayload(b, &r); err != nil {
		t.Fatal(err)
	}
	back, err := r.View()
	if err != nil || !reflect.DeepEqual(back, hv) {
		t.Errorf("round trip %v, %v; want %v", back, err, hv)
	}
	if _, err := (HostsReply{Names: map[string][]string{"kuma-3.local": {"10.0.0.300"}}}).View(); err == nil || !strings.Contains(err.Error(), "kuma-3.local") {
		t.Errorf("bad address: %v", err)
	}
}

func TestReachReply(t *testing.T) {
	edges := []Edge{{From: "a", To: "b", Port: cluster.PortRaft, Reason: "connection refused", Refused: true},
		{From: "a", To: "c", Port: cluster.Port{Name: "custom", Number: 9999, Proto: cluster.UDP}, Reason: "timeout"}}
	b, err := EncodePayload(ReachReplyOf(edges))
	if err != nil {
		t.Fatal(err)
	}
	var r ReachReply
	if err := DecodePayload(b, &r); err != nil {
		t.Fatal(err)
	}
	back, err := r.Edges()
	if err != nil || !reflect.DeepEqual(back, edges) {
		t.Errorf("round trip %+v, %v", back, err)
	}
	if r := ReachReplyOf(nil); r.Failing == nil {
		t.Error("no edges gives a nil list (reads as no answer)")
	}
	for _, w := range []EdgeWire{{From: "a", To: "b", Number: 1, Proto: "sctp"}, {From: "a", To: "b", Proto: "tcp"}} {
		if _, err := (ReachReply{Failing: []EdgeWire{w}}).Edges(); err == nil || !strings.Contains(err.Error(), "a -> b") {
			t.Errorf("%+v: %v", w, err)
		}
	}
}

func bigReply(findings, details, textLen int) DoctorReply {
	r := DoctorReply{Host: "kuma-1.local"}
	statuses := []checks.Status{checks.Crit, checks.Warn, checks.OK, checks.Unknown}
	for i := range findings {
		f := FindingOf(fmt.Sprintf("check-%d", i), checks.AreaNetwork, checks.Result{
			Status:  statuses[i%len(statuses)],
			Message: fmt.Sprintf("message %d %s", i, noise(i, textLen)),
			Remedy:  fmt.Sprintf("remedy %d %s", i, noise(i+1000, textLen)),
		})
		for d := range details {
			f.Details = append(f.Details, fmt.Sprintf("detail %d.%d %s", i, d, noise(i*100+d, 40)))
		}
		r.Findings = append(r.Findings, f)
	}
	return r
}

// noise is poorly compressible text so that sizes are realistic.
func noise(seed, n int) string {
	var b strings.Builder
	x := uint32(seed*2654435761 + 1)
	for b.Len() < n {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b.WriteByte("abcdefghijklmnopqrstuvwxyz0123456789 "[x%37])
	}
	return b.String()
}

func encodedLen(t *testing.T, r DoctorReply) int {
	t.Helper()
	b, err := EncodePayload(r)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

func TestTrimDoctorReplyKeepsSmall(t *testing.T) {
	r := bigReply(5, 2, 50)
	got := TrimDoctorReply(r, 0)
	if got.Truncated || !reflect.DeepEqual(got, r) {
		t.Errorf("small reply changed: %+v", got)
	}
}

func TestTrimDoctorReplyDropsDetailsFirst(t *testing.T) {
	r := bigReply(40, 30, 100)
	orig := cloneReply(r)
	if _, err := EncodePayload(r); err == nil {
		t.Fatal("reply already fits: test is moot")
	}
	got := TrimDoctorReply(r, MaxPayload)
	if n := encodedLen(t, got); n > MaxPayload {
		t.Fatalf("trimmed reply is %d bytes", n)
	}
	if !reflect.DeepEqual(r, orig) {
		t.Error("input modified")
	}
	if !got.Truncated || got.FindingsOmitted != 0 {
		t.Errorf("truncated %v, omitted %d", got.Truncated, got.FindingsOmitted)
	}
	critKept, okDropped := false, true
	for i, f := range got.Findings {
		if f.Message != r.Findings[i].Message || f.Remedy != r.Findings[i].Remedy {
			t.Errorf("finding %d: text cut before all details were dropped", i)
		}
		if f.DetailsOmitted+len(f.Details) != len(r.Findings[i].Details) {
			t.Errorf("finding %d: %d kept + %d omitted != %d", i, len(f.Details), f.DetailsOmitted, len(r.Findings[i].Details))
		}
		if f.Status == "crit" && len(f.Details) > 0 {
			critKept = true
		}
		if f.Status == "ok" && len(f.Details) > 0 {
			okDropped = false
		}
	}
	if !critKept || !okDropped {
		t.Errorf("details of crit kept %v, of ok all dropped %v: least severe must go first", critKept, okDropped)
	}
}

func TestTrimDoctorReplyCutsTextThenFindings(t *testing.T) {
	r := bigReply(30, 0, 3000) // remedies and messages alone overflow
	got := TrimDoctorReply(r, 8<<10)
	if n := encodedLen(t, got); n > 8<<10 {
		t.Fatalf("trimmed reply is %d bytes", n)
	}
	cut := 0
	for _, f := range got.Findings {
		if strings.HasSuffix(f.Remedy, strings.TrimSpace(TruncatedMark)) {
			cut++
		}
	}
	if cut == 0 || !got.Truncated {
		t.Errorf("no remedy marked as truncated")
	}

	many := bigReply(1000, 0, 40)
	got = TrimDoctorReply(many, 2<<10)
	if n := encodedLen(t, got); n > 2<<10 {
		t.Fatalf("trimmed reply is %d bytes", n)
	}
	if got.FindingsOmitted == 0 || got.FindingsOmitted+len(got.Findings) != len(many.Findings) {
		t.Errorf("omitted %d kept %d of %d", got.FindingsOmitted, len(got.Findings), len(many.Findings))
	}
	for _, f := range got.Findings {
		if f.Status == "ok" && got.FindingsOmitted >= len(many.Findings)/4 {
			t.Errorf("ok finding %s kept while crit ones were dropped", f.Check)
		}
	}
	if got.Findings[0].Status != "crit" {
		t.Errorf("first kept finding is %s, want crit", got.Findings[0].Status)
	}
}

func TestTruncateText(t *testing.T) {
	if got := truncateText("héllo", 2); got != "h"+TruncatedMark {
		t.Errorf("rune boundary: %q", got)
	}
	if got := truncateText("short", 10); got != "short" {
		t.Errorf("short text: %q", got)
	}
	if got := truncateText("abc", 0); got != "[truncated]" {
		t.Errorf("zero: %q", got)
	}
}
