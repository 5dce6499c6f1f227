package checks

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// fakeCheck returns scripted results, one per run, and records concurrency.
type fakeCheck struct {
	name    string
	results []Result
	runs    atomic.Int32
	block   bool // wait for ctx
	panics  bool
	active  *atomic.Int32
	peak    *atomic.Int32
	hold    time.Duration
}

func (f *fakeCheck) Name() string { return f.name }
func (f *fakeCheck) Area() Area   { return AreaCluster }
func (f *fakeCheck) Run(ctx context.Context) Result {
	i := int(f.runs.Add(1)) - 1
	if f.active != nil {
		n := f.active.Add(1)
		defer f.active.Add(-1)
		for {
			p := f.peak.Load()
			if n <= p || f.peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(f.hold)
	}
	if f.panics {
		panic("boom")
	}
	if f.block {
		<-ctx.Done()
		return Okf("too late")
	}
	return f.results[min(i, len(f.results)-1)]
}

func TestRunnerTimeoutIsUnknown(t *testing.T) {
	r := Runner{Timeout: 20 * time.Millisecond}
	o := r.Run(context.Background(), &fakeCheck{name: "slow", block: true})
	if o.Status != Unknown || o.Message != "timed out after 20ms" {
		t.Fatalf("got %v %q", o.Status, o.Message)
	}
}

func TestRunnerPanicIsUnknown(t *testing.T) {
	o := Runner{Timeout: time.Second}.Run(context.Background(), &fakeCheck{name: "p", panics: true})
	if o.Status != Unknown || o.Check != "p" {
		t.Fatalf("got %+v", o)
	}
}

func TestRunnerKeepsOrderAndBoundsConcurrency(t *testing.T) {
	var active, peak atomic.Int32
	var cs []Check
	for i := range 10 {
		cs = append(cs, &fakeCheck{name: string(rune('a' + i)), results: []Result{Okf(string(rune('a' + i)))},
			active: &active, peak: &peak, hold: 5 * time.Millisecond})
	}
	out := Runner{Timeout: time.Second, Concurrency: 3}.RunAll(context.Background(), cs)
	for i, o := range out {
		if o.Check != cs[i].Name() || o.Message != cs[i].Name() {
			t.Errorf("outcome %d is %s/%q", i, o.Check, o.Message)
		}
	}
	if p := peak.Load(); p > 3 || p < 2 {
		t.Errorf("peak concurrency %d, want 2..3", p)
	}
}

func TestRunnerCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o := Runner{Timeout: time.Second}.Run(ctx, &fakeCheck{name: "c", block: true})
	if o.Status != Unknown || o.Message != "cancelled before the check finished" {
		t.Fatalf("got %v %q", o.Status, o.Message)
	}
}

func TestThresholds(t *testing.T) {
	crit := Critf("down", "fix it")
	ok := Okf("fine")
	unk := Unknownf("cannot tell", "")
	f := &fakeCheck{name: "t", results: []Result{ok, crit, crit, unk, crit, crit, ok, crit}}
	th := WithThresholds(f, 2, 4)
	want := []Status{OK, OK, Warn, Unknown, Warn, Crit, OK, OK}
	for i, w := range want {
		got := th.Run(context.Background())
		if got.Status != w {
			t.Fatalf("run %d: got %v (%q %v), want %v", i, got.Status, got.Message, got.Details, w)
		}
	}
	if th.Failures() != 1 {
		t.Errorf("failures = %d", th.Failures())
	}
}

// Resume continues from a status reported elsewhere: a resumed crit stays
// crit on the next failure, a resumed warn needs the remaining failures
// before crit, a resumed ok holds through failures below the threshold.
func TestThresholdsResume(t *testing.T) {
	crit, ok := Critf("down", "fix it"), Okf("fine")
	cases := []struct {
		from Status
		runs []Result
		want []Status
	}{
		{Crit, []Result{crit, crit}, []Status{Crit, Crit}},
		{Warn, []Result{crit, crit, crit}, []Status{Warn, Crit, Crit}}, // 2 failures taken, 2 more to crit
		{OK, []Result{crit, crit, ok}, []Status{OK, Warn, OK}},
	}
	for _, c := range cases {
		th := WithThresholds(&fakeCheck{name: "t", results: c.runs}, 2, 4)
		th.Resume(Result{Status: c.from, Message: "before"})
		for i, w := range c.want {
			if got := th.Run(context.Background()); got.Status != w {
				t.Errorf("from %v, run %d: got %v (%q), want %v", c.from, i, got.Status, got.Message, w)
			}
		}
	}
}

func TestThresholdsAtOnce(t *testing.T) {
	th := WithThresholds(&fakeCheck{name: "t", results: []Result{Critf("x", "")}}, 0, 0)
	if s := th.Run(context.Background()).Status; s != Crit {
		t.Fatalf("got %v", s)
	}
}

func TestStatusOrderAndCodes(t *testing.T) {
	if Worst(OK, Unknown) != Unknown || Worst(Warn, Unknown) != Warn || Worst(Crit, Warn) != Crit {
		t.Error("severity order")
	}
	for s, want := range map[Status][2]int{OK: {0, 0}, Warn: {1, 1}, Crit: {2, 2}, Unknown: {1, 3}} {
		if s.ExitCode() != want[0] || s.NagiosCode() != want[1] {
			t.Errorf("%v: exit %d nagios %d", s, s.ExitCode(), s.NagiosCode())
		}
	}
	for _, s := range []Status{OK, Warn, Crit, Unknown} {
		b, _ := s.MarshalJSON()
		var back Status
		if err := back.UnmarshalJSON(b); err != nil || back != s {
			t.Errorf("round trip %v: %v %v", s, back, err)
		}
	}
}
