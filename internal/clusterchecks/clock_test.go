package clusterchecks

import (
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
)

func samples(kv ...any) []TimeSample {
	var out []TimeSample
	for i := 0; i < len(kv); i += 2 {
		out = append(out, TimeSample{Node: kv[i].(string), Offset: kv[i+1].(time.Duration), RTT: 4 * time.Millisecond})
	}
	return out
}

func TestClockCheck(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name       string
		members    []Member
		times      []TimeSample
		warn, crit time.Duration
		want       expect
	}{
		{"in sync", alive("a", "b", "c"), samples("a", 0*ms, "b", 20*ms, "c", -30*ms), 0, 0, expect{
			status: checks.OK, msg: []string{"3 clocks"}, details: []string{"a: skew +0s", "c: skew -30ms", "(±2ms)"}}},
		{"one far ahead", alive("a", "b", "c"), samples("a", 0*ms, "b", 5*time.Second, "c", 10*ms), 0, 0, expect{
			status: checks.Crit, msg: []string{"b +4.99s"}, notMsg: []string{"a ", "c "},
			remedy: []string{"On b:", "chronyc makestep"}, details: []string{"b: skew +4.99s from the median (±2ms) crit"}}},
		// The median, not this node, is the reference: here Self is the outlier.
		{"self is the outlier", alive("a", "b", "c"), samples("a", 0*ms, "b", -3*time.Second, "c", -3*time.Second), 0, 0, expect{
			status: checks.Crit, msg: []string{"a +3s"}, notMsg: []string{"b ", "c "}, remedy: []string{"On a:"}}},
		{"warn only", alive("a", "b", "c"), samples("a", 0*ms, "b", 400*ms, "c", 0*ms), 0, 0, expect{
			status: checks.Warn, msg: []string{"b +400ms", "limit 250ms"}}},
		{"custom limits", alive("a", "b", "c"), samples("a", 0*ms, "b", 400*ms, "c", 0*ms), time.Second, 2 * time.Second, expect{
			status: checks.OK}},
		{"even count median", alive("a", "b", "c", "d"), samples("a", 0*ms, "b", 0*ms, "c", 2*time.Second, "d", 2*time.Second), 250 * ms, 2 * time.Second, expect{
			status: checks.Warn, msg: []string{"a -1s", "b -1s", "c +1s", "d +1s"}}},
		{"one sample", alive("a", "b"), samples("a", 0*ms), 0, 0, expect{
			status: checks.Unknown, msg: []string{"need at least 2 nodes"}, details: []string{"b: unknown (did not answer the time query; alive)"}}},
		{"silent nodes listed", withStatus(alive("a", "b", "c"), "c", StatusFailed), samples("a", 0*ms, "b", 0*ms), 0, 0, expect{
			status: checks.OK, details: []string{"c: unknown (did not answer the time query; failed)"}}},
		{"duplicate sample ignored", alive("a", "b"), samples("a", 0*ms, "b", 0*ms, "b", 9*time.Second), 0, 0, expect{
			status: checks.OK}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.check(t, ClockCheck(View{Self: "a", Members: tt.members, Times: tt.times, SkewWarn: tt.warn, SkewCrit: tt.crit}))
		})
	}
}

func TestClockOffsetDirect(t *testing.T) {
	at := time.Unix(1000, 0)
	// The remote read its clock 1ms (half the 2ms direct RTT) before the
	// answer arrived, and its clock was 3s ahead.
	remote := at.Add(-time.Millisecond).Add(3 * time.Second)
	if got := ClockOffsetDirect(at, remote, 2*time.Millisecond); got != 3*time.Second {
		t.Errorf("offset %v, want 3s", got)
	}
	if got := ClockOffsetDirect(at, at, -time.Second); got != 0 {
		t.Errorf("negative rtt: %v", got)
	}
}

func TestMedianOffset(t *testing.T) {
	tests := []struct {
		in   []time.Duration
		want time.Duration
	}{
		{[]time.Duration{5}, 5},
		{[]time.Duration{9, 1, 5}, 5},
		{[]time.Duration{1, 2, 3, 4}, 2}, // (2+3)/2 in integer nanoseconds
		{[]time.Duration{-3, -1}, -2},
		{[]time.Duration{1<<62 + 1<<61, 1<<62 + 1<<61}, 1<<62 + 1<<61}, // no overflow
	}
	for _, tt := range tests {
		var s []TimeSample
		for _, o := range tt.in {
			s = append(s, TimeSample{Offset: o})
		}
		if got, _ := medianOffset(s); got != tt.want {
			t.Errorf("median %v = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// A sample held up on a busy node looks skewed by up to half its query's
// round trip; only what exceeds that bound (and the median's) is judged.
// Seen on a loaded test machine: +478 ms measured with a 1 s round trip.
func TestClockCheckJudgesOnlyWhatTheBoundProves(t *testing.T) {
	members := []Member{{Name: "a", Status: "alive"}, {Name: "b", Status: "alive"}, {Name: "c", Status: "alive"}}
	v := View{Self: "a", Members: members, SkewWarn: 250 * time.Millisecond, SkewCrit: time.Second}
	v.Times = []TimeSample{
		{Node: "a"},
		{Node: "b", Offset: -478 * time.Millisecond, RTT: 150 * time.Millisecond, Bound: 500 * time.Millisecond},
		{Node: "c", Offset: -488 * time.Millisecond, RTT: 90 * time.Millisecond, Bound: 520 * time.Millisecond},
	}
	if r := ClockCheck(v); r.Status != checks.OK {
		t.Errorf("within the measurement's bound: %v %s %v, want ok", r.Status, r.Message, r.Details)
	}
	// The same offsets measured tightly are real skew.
	for i := range v.Times {
		v.Times[i].Bound = v.Times[i].RTT / 2
	}
	if r := ClockCheck(v); r.Status != checks.Warn || !strings.Contains(r.Message, "a +") {
		t.Errorf("beyond the bound: %v %s, want warn naming a", r.Status, r.Message)
	}
}
