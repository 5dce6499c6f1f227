package metrics

import "fmt"

// GaugeVec is a gauge family; With picks one series.
type GaugeVec struct{ f *family }

// Gauge is one series of a GaugeVec.
type Gauge struct{ s *series }

// Gauge registers (or returns the existing) gauge family name with the given
// label names. See the package doc for what panics.
func (r *Registry) Gauge(name, help string, labelNames ...string) *GaugeVec {
	return &GaugeVec{f: r.register(name, help, kindGauge, labelNames, nil)}
}

// With returns the series for labelValues, one per label name, in order;
// the series is created at zero on first use.
func (v *GaugeVec) With(labelValues ...string) *Gauge {
	return &Gauge{s: v.f.with(labelValues)}
}

// Reset drops every series, for gauges recomputed at each scrape (a check
// that no longer exists must vanish, not linger at its last value). A Gauge
// obtained before Reset is detached: setting it no longer shows. A gauge
// without labels always has its one series; Reset sets it to zero.
func (v *GaugeVec) Reset() {
	v.f.mu.Lock()
	defer v.f.mu.Unlock()
	if len(v.f.labels) == 0 {
		for _, s := range v.f.series {
			s.store(0)
		}
		return
	}
	clear(v.f.series)
}

// Set sets the value.
func (g *Gauge) Set(v float64) { g.s.store(v) }

// Add adds v (negative to decrease).
func (g *Gauge) Add(v float64) { g.s.add(v) }

// Value is the current value.
func (g *Gauge) Value() float64 { return g.s.load() }

// GaugeFunc registers a gauge without labels whose value is fn(), called at
// each scrape. Registering the same name again as a GaugeFunc replaces fn
// (the last registration wins); any other reuse of the name panics.
func (r *Registry) GaugeFunc(name, help string, fn func() float64) {
	if fn == nil {
		panic(fmt.Sprintf("metrics: %s: nil GaugeFunc", name))
	}
	r.register(name, help, kindGauge, nil, fn)
}
