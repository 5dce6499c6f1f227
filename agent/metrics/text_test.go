package metrics

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"
	"testing"
)

func render(t testing.TB, r *Registry) string {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestWriteTextExact(t *testing.T) {
	r := NewRegistry()
	runs := r.Counter("kuma_check_runs_total", "Check runs by check and status.", "check", "status")
	runs.With("ntp", "ok").Add(3)
	runs.With("disk", "crit").Inc()
	runs.With("disk", "ok").Add(2.5)
	r.Gauge("kuma_up", "1 when\nthe agent runs, \\ always.").With().Set(1)
	r.GaugeFunc("kuma_deadline_seconds", "Seconds to the deadline.", func() float64 { return math.Inf(1) })
	odd := r.Gauge("kuma_odd", "Odd values.", "v")
	odd.With("nan").Set(math.NaN())
	odd.With("neg_inf").Set(math.Inf(-1))
	odd.With(`q"b\n` + "\n").Set(-0.125)
	odd.With("big").Set(1e21)
	r.Gauge("kuma_never_set", "A vector with no series yet.", "x")

	want := `# HELP kuma_check_runs_total Check runs by check and status.
# TYPE kuma_check_runs_total counter
kuma_check_runs_total{check="disk",status="crit"} 1
kuma_check_runs_total{check="disk",status="ok"} 2.5
kuma_check_runs_total{check="ntp",status="ok"} 3
# HELP kuma_deadline_seconds Seconds to the deadline.
# TYPE kuma_deadline_seconds gauge
kuma_deadline_seconds +Inf
# HELP kuma_odd Odd values.
# TYPE kuma_odd gauge
kuma_odd{v="big"} 1e+21
kuma_odd{v="nan"} NaN
kuma_odd{v="neg_inf"} -Inf
kuma_odd{v="q\"b\\n\n"} -0.125
# HELP kuma_up 1 when\nthe agent runs, \\ always.
# TYPE kuma_up gauge
kuma_up 1
`
	if got := render(t, r); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestUnlabelledMetricsStartAtZero(t *testing.T) {
	r := NewRegistry()
	r.Counter("a_total", "A.")
	if got := render(t, r); !strings.Contains(got, "\na_total 0\n") {
		t.Errorf("fresh counter not exposed at 0:\n%s", got)
	}
}

func TestCollectHookRefreshesGauges(t *testing.T) {
	r := NewRegistry()
	state := map[string]float64{"ntp": 0, "disk": 3}
	g := r.Gauge("kuma_check_status", "Status by check.", "check")
	r.Collect(func(r *Registry) {
		g.Reset()
		for k, v := range state {
			g.With(k).Set(v)
		}
	})
	first := render(t, r)
	if !strings.Contains(first, `kuma_check_status{check="disk"} 3`) || !strings.Contains(first, `kuma_check_status{check="ntp"} 0`) {
		t.Fatalf("first scrape:\n%s", first)
	}
	delete(state, "disk")
	state["ntp"] = 2
	second := render(t, r)
	if strings.Contains(second, `check="disk"`) || !strings.Contains(second, `kuma_check_status{check="ntp"} 2`) {
		t.Fatalf("second scrape kept a stale series or missed the update:\n%s", second)
	}
}

func TestResetOfUnlabelledGaugeZeroes(t *testing.T) {
	r := NewRegistry()
	g := r.Gauge("g", "G.")
	g.With().Set(7)
	g.Reset()
	if got := render(t, r); !strings.Contains(got, "\ng 0\n") {
		t.Errorf("after Reset:\n%s", got)
	}
}

// lineRE is one sample line: name, optional labels with escaped values, one
// value (decimal, exponent, ±Inf or NaN).
var lineRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*` +
	`(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})?` +
	` (?:[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]Inf|NaN)$`)

var commentRE = regexp.MustCompile(`^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* (?:[^\\\n]|\\[\\n])*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge))$`)

// checkLines fails unless every line of text is a well-formed comment or
// sample, and the text ends with a newline.
func checkLines(t testing.TB, text string) {
	t.Helper()
	if text != "" && !strings.HasSuffix(text, "\n") {
		t.Fatalf("text does not end with a newline: %q", text)
	}
	for i, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		re := lineRE
		if strings.HasPrefix(l, "#") {
			re = commentRE
		}
		if !re.MatchString(l) {
			t.Errorf("line %d malformed: %q", i+1, l)
		}
	}
}

func TestEveryLineIsWellFormed(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("weird:name_total", "Help with \\ and\nnewline and \"quotes\".", "a", "b")
	for i, v := range []string{"", `"`, `\`, "\n", "}", "{x=\"y\"}", "\xff\xfe", "ünïcödé", " spaces ", "a,b=c"} {
		c.With(v, fmt.Sprint(i)).Add(float64(i) * 1.5)
	}
	g := r.Gauge("values", "Values.", "k")
	for i, v := range []float64{0, -0, 1e-300, -1e300, math.MaxFloat64, math.SmallestNonzeroFloat64, math.NaN(), math.Inf(1), math.Inf(-1), 12345678901234567} {
		g.With(fmt.Sprint(i)).Set(v)
	}
	r.GaugeFunc("f", "F.", func() float64 { return 42 })
	text := render(t, r)
	checkLines(t, text)
	if n := strings.Count(text, "\n"); n != 3*2+10+10+1 {
		t.Errorf("%d lines, want %d", n, 3*2+10+10+1)
	}
}

func FuzzLabelValueEscaping(f *testing.F) {
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "new\nline", "\xff", `\n`, `"\"`} {
		f.Add(s, 1.5)
	}
	f.Fuzz(func(t *testing.T, v string, x float64) {
		r := NewRegistry()
		r.Gauge("g", v, "l").With(v).Set(x)
		text := render(t, r)
		checkLines(t, text)
		// Unescaping the label value gives back the (valid UTF-8) input.
		line := strings.Split(text, "\n")[2]
		quoted := line[len(`g{l=`):strings.LastIndex(line, "}")]
		got := strings.NewReplacer(`\\`, `\`, `\"`, `"`, `\n`, "\n").Replace(quoted[1 : len(quoted)-1])
		if want := strings.ToValidUTF8(v, "\uFFFD"); got != want {
			t.Fatalf("label value %q came back as %q", want, got)
		}
	})
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestWriteTextReportsWriterError(t *testing.T) {
	r := NewRegistry()
	r.Counter("c_total", "C.")
	if err := r.WriteText(failWriter{}); err == nil || !strings.Contains(err.Error(), io.ErrClosedPipe.Error()) {
		t.Fatalf("err = %v", err)
	}
}

func BenchmarkWriteText1000Series(b *testing.B) {
	r := NewRegistry()
	c := r.Counter("kuma_check_runs_total", "Check runs by check and status.", "check", "status")
	g := r.Gauge("kuma_check_duration_seconds", "Last run duration.", "check")
	for i := range 500 {
		c.With(fmt.Sprintf("check_%03d", i), "ok").Add(float64(i))
		g.With(fmt.Sprintf("check_%03d", i)).Set(float64(i) / 1000)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := r.WriteText(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
