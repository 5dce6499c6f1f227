package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// sample is one line to write, copied out of the registry so that writing
// (to a slow client) holds no lock.
type sample struct {
	labels string
	values []string
	value  float64
}

// WriteText runs the Collect hooks, then writes every family with at least
// one series in the Prometheus text format 0.0.4: families sorted by name,
// each with its HELP and TYPE lines, series sorted by label values. The
// error is the writer's.
func (r *Registry) WriteText(w io.Writer) error {
	r.scrape.Lock()
	defer r.scrape.Unlock()

	r.mu.Lock()
	hooks := slices.Clone(r.hooks)
	r.mu.Unlock()
	// Hooks run without r.mu held: they register and set metrics.
	for _, h := range hooks {
		h(r)
	}

	r.mu.Lock()
	fams := make([]*family, 0, len(r.families))
	for _, f := range r.families {
		fams = append(fams, f)
	}
	r.mu.Unlock()
	slices.SortFunc(fams, func(a, b *family) int { return strings.Compare(a.name, b.name) })

	bw := bufio.NewWriterSize(w, 32<<10)
	var line []byte
	for _, f := range fams {
		samples := f.samples()
		if len(samples) == 0 {
			continue
		}
		line = append(line[:0], "# HELP "...)
		line = append(line, f.name...)
		line = append(line, ' ')
		line = appendEscaped(line, f.help, false)
		line = append(line, "\n# TYPE "...)
		line = append(line, f.name...)
		line = append(line, ' ')
		line = append(line, f.kind...)
		line = append(line, '\n')
		for _, s := range samples {
			line = append(line, f.name...)
			line = append(line, s.labels...)
			line = append(line, ' ')
			line = appendFloat(line, s.value)
			line = append(line, '\n')
		}
		if _, err := bw.Write(line); err != nil {
			return fmt.Errorf("metrics: writing %s: %w", f.name, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("metrics: writing: %w", err)
	}
	return nil
}

// samples copies f's series out, sorted by label values. A GaugeFunc's
// function is called here, outside every lock, so it may read anything.
func (f *family) samples() []sample {
	if f.isFunc {
		return []sample{{value: (*f.fn.Load())()}}
	}
	f.mu.Lock()
	out := make([]sample, 0, len(f.series))
	for _, s := range f.series {
		out = append(out, sample{labels: s.labels, values: s.values, value: s.load()})
	}
	f.mu.Unlock()
	slices.SortFunc(out, func(a, b sample) int { return slices.Compare(a.values, b.values) })
	return out
}

// renderLabels renders {a="x",b="y"}; empty without labels.
func renderLabels(names, values []string) string {
	if len(names) == 0 {
		return ""
	}
	var b []byte
	b = append(b, '{')
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, n...)
		b = append(b, '=', '"')
		b = appendEscaped(b, values[i], true)
		b = append(b, '"')
	}
	b = append(b, '}')
	return string(b)
}

// appendEscaped escapes per the format: backslash and newline always, double
// quote in label values only. Invalid UTF-8 (a label value comes from the
// node) becomes U+FFFD, since the format is UTF-8.
func appendEscaped(b []byte, s string, quote bool) []byte {
	s = strings.ToValidUTF8(s, "\uFFFD")
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '"' && quote:
			b = append(b, '\\', '"')
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat writes v as the format wants: +Inf, -Inf, NaN, else Go's
// shortest representation (which Prometheus parses).
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}
