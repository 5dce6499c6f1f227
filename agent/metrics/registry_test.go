package metrics

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
)

func mustPanic(t *testing.T, what, contains string, fn func()) {
	t.Helper()
	defer func() {
		t.Helper()
		p := recover()
		if p == nil {
			t.Errorf("%s: no panic", what)
			return
		}
		if !strings.Contains(fmt.Sprint(p), contains) {
			t.Errorf("%s: panic %q does not mention %q", what, p, contains)
		}
	}()
	fn()
}

func TestReRegistrationReturnsTheSameFamily(t *testing.T) {
	r := NewRegistry()
	a := r.Counter("c_total", "First help.", "x")
	b := r.Counter("c_total", "Second help.", "x")
	a.With("1").Inc()
	b.With("1").Add(2)
	if v := a.With("1").Value(); v != 3 {
		t.Errorf("shared series value %v, want 3", v)
	}
	if got := render(t, r); !strings.Contains(got, "# HELP c_total First help.\n") || strings.Count(got, "# TYPE") != 1 {
		t.Errorf("re-registration changed output:\n%s", got)
	}
	calls := ""
	r.GaugeFunc("f", "F.", func() float64 { calls += "a"; return 1 })
	r.GaugeFunc("f", "F.", func() float64 { calls += "b"; return 2 })
	if got := render(t, r); !strings.Contains(got, "\nf 2\n") || calls != "b" {
		t.Errorf("GaugeFunc re-registration: calls %q\n%s", calls, got)
	}
}

func TestMisuseIsAProgrammingErrorThatPanics(t *testing.T) {
	r := NewRegistry()
	r.Counter("c_total", "C.", "x")
	r.GaugeFunc("f", "F.", func() float64 { return 0 })
	for _, tc := range []struct {
		what, contains string
		fn             func()
	}{
		{"other type", "c_total registered again as gauge", func() { r.Gauge("c_total", "C.", "x") }},
		{"other labels", "c_total registered again", func() { r.Counter("c_total", "C.", "y") }},
		{"fewer labels", "c_total registered again", func() { r.Counter("c_total", "C.") }},
		{"func over vec", "registered again", func() { r.GaugeFunc("c_total", "C.", func() float64 { return 0 }) }},
		{"vec over func", "registered again", func() { r.Gauge("f", "F.") }},
		{"bad metric name", "invalid metric name", func() { r.Counter("1abc", "") }},
		{"empty metric name", "invalid metric name", func() { r.Counter("", "") }},
		{"dash in name", "invalid metric name", func() { r.Gauge("a-b", "") }},
		{"bad label name", "invalid label name", func() { r.Gauge("g", "", "a:b") }},
		{"reserved label", "invalid label name", func() { r.Gauge("g", "", "__name") }},
		{"repeated label", "repeated", func() { r.Gauge("g", "", "a", "a") }},
		{"label arity", "2 label values for labels [x]", func() { r.Counter("c_total", "C.", "x").With("1", "2") }},
		{"nil func", "nil GaugeFunc", func() { r.GaugeFunc("h", "H.", nil) }},
	} {
		mustPanic(t, tc.what, tc.contains, tc.fn)
	}
}

func TestNameValidation(t *testing.T) {
	for _, n := range []string{"a", "_", ":", "a:b_c9", "ABC", "__x"} {
		if !validMetricName(n) {
			t.Errorf("metric name %q rejected", n)
		}
	}
	for _, n := range []string{"", "9a", "a b", "a-b", "é", "a.b"} {
		if validMetricName(n) {
			t.Errorf("metric name %q accepted", n)
		}
	}
	for _, n := range []string{"a", "_x", "A9"} {
		if !validLabelName(n) {
			t.Errorf("label name %q rejected", n)
		}
	}
	for _, n := range []string{"", "a:b", "9", "__x", "_\n"} {
		if validLabelName(n) {
			t.Errorf("label name %q accepted", n)
		}
	}
}

func TestCounterOnlyGoesUp(t *testing.T) {
	c := NewRegistry().Counter("c_total", "C.").With()
	c.Add(2)
	c.Add(-1)
	c.Add(math.NaN())
	c.Inc()
	if v := c.Value(); v != 3 {
		t.Errorf("counter %v, want 3", v)
	}
}

// A running total read from its owner: it follows the total up and never
// goes down (a lower or NaN total is a bug of the owner, not a reset).
func TestCounterSetTotalFollowsARunningTotalUp(t *testing.T) {
	c := NewRegistry().Counter("d_total", "D.").With()
	for _, step := range []struct{ total, want float64 }{{5, 5}, {7, 7}, {3, 7}, {math.NaN(), 7}, {7, 7}, {9.5, 9.5}} {
		c.SetTotal(step.total)
		if v := c.Value(); v != step.want {
			t.Errorf("SetTotal(%v): %v, want %v", step.total, v, step.want)
		}
	}
}

func TestGaugeSetAndAdd(t *testing.T) {
	g := NewRegistry().Gauge("g", "G.", "k").With("a")
	g.Set(5)
	g.Add(-1.5)
	if v := g.Value(); v != 3.5 {
		t.Errorf("gauge %v, want 3.5", v)
	}
}

func TestConcurrentUseIsSafe(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("c_total", "C.", "worker")
	g := r.Gauge("g", "G.", "k")
	r.Collect(func(*Registry) { g.Reset(); g.With("x").Set(1) })
	const workers, per = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				c.With(fmt.Sprint(w % 2)).Inc()
				g.With(fmt.Sprint(i % 3)).Set(float64(i))
				r.Counter("c_total", "C.", "worker") // concurrent re-registration
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range 50 {
				checkLines(t, render(t, r))
			}
		})
	}
	wg.Wait()
	if total := c.With("0").Value() + c.With("1").Value(); total != workers*per {
		t.Errorf("lost increments: %v of %d", total, workers*per)
	}
}
