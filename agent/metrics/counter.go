package metrics

import "math"

// CounterVec is a counter family; With picks one series.
type CounterVec struct{ f *family }

// Counter is one series of a CounterVec.
type Counter struct{ s *series }

// Counter registers (or returns the existing) counter family name with the
// given label names. See the package doc for what panics.
func (r *Registry) Counter(name, help string, labelNames ...string) *CounterVec {
	return &CounterVec{f: r.register(name, help, kindCounter, labelNames, nil)}
}

// With returns the series for labelValues, one per label name, in order;
// the series is created at zero on first use.
func (v *CounterVec) With(labelValues ...string) *Counter {
	return &Counter{s: v.f.with(labelValues)}
}

// Inc adds one.
func (c *Counter) Inc() { c.s.add(1) }

// Add adds n. A counter only goes up: a negative or NaN n is ignored, so a
// bug in a caller cannot make rate() see a reset.
func (c *Counter) Add(n float64) {
	if n < 0 || math.IsNaN(n) {
		return
	}
	c.s.add(n)
}

// SetTotal sets the count to total, a running total its owner keeps (the
// mesh's drops, the outbox's): such a count is read at scrape time and still
// is a counter, so rate() and increase() apply. A total below the current
// count (NaN too) is ignored: the series never goes down, which rate() would
// read as a reset.
func (c *Counter) SetTotal(total float64) {
	for {
		old := c.s.bits.Load()
		if !(total > math.Float64frombits(old)) {
			return
		}
		if c.s.bits.CompareAndSwap(old, math.Float64bits(total)) {
			return
		}
	}
}

// Value is the current count.
func (c *Counter) Value() float64 { return c.s.load() }
