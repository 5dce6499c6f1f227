package agent

import (
	"sync"

	"github.com/kuma-agent/kuma-agent/agent/metrics"
	"github.com/kuma-agent/kuma-agent/checks"
)

// checkGauges are the gauges of the checks that measure something
// (checks.Measurer: resources, certs), refilled from their latest runs at
// each scrape; a family is registered the first time a check reports it.
type checkGauges struct {
	mu   sync.Mutex
	fams map[string]*metrics.GaugeVec
}

func (g *checkGauges) collect(r *metrics.Registry, cs []checks.Check) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fams == nil {
		g.fams = map[string]*metrics.GaugeVec{}
	}
	// A series whose file or path went away must vanish, not linger.
	for _, v := range g.fams {
		v.Reset()
	}
	for _, c := range cs {
		m, ok := c.(checks.Measurer)
		if !ok {
			continue
		}
		for _, s := range m.Samples() {
			v := g.fams[s.Metric.Name]
			if v == nil {
				v = r.Gauge(s.Metric.Name, s.Metric.Help, s.Metric.Labels...)
				g.fams[s.Metric.Name] = v
			}
			v.With(s.Labels...).Set(s.Value)
		}
	}
}
