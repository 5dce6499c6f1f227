package metrics

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// kind is a metric type as written on the TYPE line.
type kind string

const (
	kindCounter kind = "counter"
	kindGauge   kind = "gauge"
)

// Registry holds metric families and writes them for a scrape. The zero
// value is not usable; call NewRegistry.
type Registry struct {
	// scrape serializes scrapes: a Collect hook that resets and refills a
	// gauge must not be observed half done by a concurrent scrape.
	scrape sync.Mutex

	mu       sync.Mutex
	families map[string]*family
	hooks    []func(*Registry)
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{families: make(map[string]*family)}
}

// family is one metric name with its series.
type family struct {
	name, help string
	kind       kind
	labels     []string
	// fn is set for GaugeFunc families (isFunc); swapped on re-registration.
	isFunc bool
	fn     atomic.Pointer[func() float64]

	mu     sync.Mutex
	series map[string]*series // by joined label values
}

// series is one label combination; its value is a float64's bits so that
// updates need no lock.
type series struct {
	values []string
	// labels is the rendered {a="x",b="y"} part, computed once.
	labels string
	bits   atomic.Uint64
}

func (s *series) load() float64 { return math.Float64frombits(s.bits.Load()) }

func (s *series) store(v float64) { s.bits.Store(math.Float64bits(v)) }

func (s *series) add(v float64) {
	for {
		old := s.bits.Load()
		if s.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// register returns the family called name, creating it if new. An existing
// family is returned when kind, labels and function-ness match (help stays
// that of the first registration; a new fn replaces the old); otherwise it
// panics.
func (r *Registry) register(name, help string, k kind, labels []string, fn func() float64) *family {
	checkNames(name, labels)
	isFunc := fn != nil
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.families[name]; ok {
		if f.kind != k || !slices.Equal(f.labels, labels) || f.isFunc != isFunc {
			panic(fmt.Sprintf("metrics: %s registered again as %s%s with labels %v; first as %s%s with labels %v",
				name, k, funcNote(isFunc), labels, f.kind, funcNote(f.isFunc), f.labels))
		}
		if isFunc {
			f.fn.Store(&fn)
		}
		return f
	}
	f := &family{name: name, help: help, kind: k, labels: slices.Clone(labels), isFunc: isFunc, series: make(map[string]*series)}
	if isFunc {
		f.fn.Store(&fn)
	}
	if len(labels) == 0 && !isFunc {
		// A metric without labels exists from registration on, at zero, as
		// client libraries do: a counter that has not moved still reads 0.
		f.with(nil)
	}
	r.families[name] = f
	return f
}

func funcNote(isFunc bool) string {
	if isFunc {
		return " func"
	}
	return ""
}

// with returns the series for values, creating it.
func (f *family) with(values []string) *series {
	if len(values) != len(f.labels) {
		panic(fmt.Sprintf("metrics: %s: %d label values for labels %v", f.name, len(values), f.labels))
	}
	key := strings.Join(values, "\xff")
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.series[key]; ok {
		return s
	}
	s := &series{values: slices.Clone(values), labels: renderLabels(f.labels, values)}
	f.series[key] = s
	return s
}

// Collect adds a hook run at each scrape before anything is written, to
// refresh gauges that are computed rather than updated (Reset, then Set).
// Hooks run in the order added, one scrape at a time; they may register
// metrics but must not scrape.
func (r *Registry) Collect(fn func(r *Registry)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hooks = append(r.hooks, fn)
}

// Names lists the registered families' names, sorted: what a dashboard or
// an alert rule may query.
func (r *Registry) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.families))
	for n := range r.families {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
