package clusterchecks

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
)

// CertsCheckName is the cluster-wide certificate check; its Values are each
// reporting node's seconds to its soonest expiry (negative: expired).
const CertsCheckName = "cluster-certs"

// Caps on the certificates a doctor answer carries: the soonest to expire
// of each node, enough to name what is due, never a flood.
const (
	MaxCertFacts    = 8
	maxCertFactText = 256
)

// CapCertFacts bounds a node's certificate facts (count, text lengths) and
// drops the ones without an expiry; what was dropped is counted.
func CapCertFacts(fs []checks.CertFact) ([]checks.CertFact, int) {
	out := make([]checks.CertFact, 0, min(len(fs), MaxCertFacts))
	dropped := 0
	for _, f := range fs {
		if len(out) == MaxCertFacts || f.NotAfter == 0 {
			dropped++
			continue
		}
		for _, p := range []*string{&f.File, &f.Subject, &f.Layout} {
			*p = clipText(*p, maxCertFactText)
		}
		out = append(out, f)
	}
	return out, dropped
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return truncateText(s, n)
}

// certs judges every answering node's soonest certificates against the
// evaluator's clock and thresholds: one finding for the whole cluster, so
// a node's expiring certificate raises one alert however many nodes see it.
func certs(v View, f *finding) checks.Result {
	now := v.Now
	if now.IsZero() {
		now = time.Now()
	}
	warn, crit := cmp.Or(v.CertWarn, checks.DefaultCertsWarn), cmp.Or(v.CertCrit, checks.DefaultCertsCrit)
	nodes := make([]string, 0, len(v.Certs))
	for n := range v.Certs {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	worst := checks.OK
	var lines []string
	remedies := map[string]bool{}
	var remedyOrder []string
	f.values = map[string]float64{}
	total := 0
	for _, n := range nodes {
		facts := v.Certs[n]
		if len(facts) == 0 {
			continue
		}
		soonest := slices.MinFunc(facts, func(a, b checks.CertFact) int { return cmp.Compare(a.NotAfter, b.NotAfter) })
		f.values[n] = time.Unix(soonest.NotAfter, 0).Sub(now).Seconds()
		for _, c := range facts {
			total++
			left := time.Unix(c.NotAfter, 0).Sub(now)
			st := checks.OK
			switch {
			case left < crit:
				st = checks.Crit
			case left < warn:
				st = checks.Warn
			default:
				continue
			}
			worst = checks.Worst(worst, st)
			f.nodes = append(f.nodes, n)
			when := "expires in " + checks.DurationDays(left)
			if left <= 0 {
				when = "expired " + checks.DurationDays(-left) + " ago"
			}
			lines = append(lines, fmt.Sprintf("%s: %s: %s: %s %s", st, n, c.File, c.Subject, when))
			if r := checks.Renewal(checks.DefaultCertLayouts, c.Layout); r != "" && !remedies[r] {
				remedies[r] = true
				remedyOrder = append(remedyOrder, r)
			}
		}
	}
	if worst == checks.OK {
		if total == 0 {
			return checks.Okf("no node reported a certificate: not judged")
		}
		return checks.Okf(fmt.Sprintf("the soonest certificates of %s are valid for at least %s", plural(len(f.values), "node", "nodes"), checks.DurationDays(warn)))
	}
	// The most severe first: its line is the message.
	critFirst := func(l string) int {
		if strings.HasPrefix(l, "crit") {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(lines, func(a, b string) int { return cmp.Compare(critFirst(a), critFirst(b)) })
	msg := strings.TrimPrefix(strings.TrimPrefix(lines[0], "crit: "), "warn: ")
	if len(lines) > 1 {
		msg += fmt.Sprintf(" (+%d more)", len(lines)-1)
	}
	return checks.Result{Status: worst, Message: "certificate due: " + msg, Details: lines, Remedy: strings.Join(remedyOrder, "\n")}
}
