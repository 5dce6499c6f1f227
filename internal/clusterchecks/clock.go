package clusterchecks

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
)

// Default skew limits, as config.Default's checks.clock_skew.
const (
	DefaultSkewWarn = 250 * time.Millisecond
	DefaultSkewCrit = time.Second
)

// ClockOffset turns one time query into a sample: the remote clock read
// remote somewhere between sent and received (local clock), best guessed at
// the midpoint, so the error is at most rtt/2. A negative round trip (the
// local clock stepped back) counts as zero.
func ClockOffset(sent, received, remote time.Time) (offset, rtt time.Duration) {
	rtt = max(received.Sub(sent), 0)
	mid := sent.Add(rtt / 2)
	return remote.Sub(mid), rtt
}

// ClockOffsetDirect is ClockOffset for queries whose request and answer
// take different paths. serf sends a query out by gossip (it waits for a
// gossip round and may be relayed) but the answer comes straight back, so the
// midpoint of the round trip is biased by up to half a gossip interval.
// Given the direct round trip between the two nodes (serf's network
// coordinates estimate it), the remote clock was read about rtt/2 before the
// answer arrived, and the error is at most rtt/2.
func ClockOffsetDirect(received, remote time.Time, rtt time.Duration) time.Duration {
	return remote.Sub(received.Add(-max(rtt, 0) / 2))
}

// ClockCheck judges every node's clock against the MEDIAN of all nodes'
// offsets, as k0sctl does: it needs no NTP server and no trusted node, and a
// single bad clock (this node's included) cannot drag the reference.
func ClockCheck(v View) checks.Result { return clock(v, &finding{}) }

// clock is the check; it fills f's nodes and values as it goes (see findingOf).
func clock(v View, f *finding) checks.Result {
	warn, crit := cmp.Or(v.SkewWarn, DefaultSkewWarn), cmp.Or(v.SkewCrit, DefaultSkewCrit)
	samples := dedupSamples(v.Times)
	answered := make(map[string]bool, len(samples))
	for _, s := range samples {
		answered[s.Node] = true
	}
	silent := silentDetails(v, "time", func(n string) bool { return answered[n] })
	if len(samples) < 2 {
		return checks.Unknownf(fmt.Sprintf("clock skew unknown: need at least 2 nodes, %d answered the time query", len(samples)),
			"Make sure kuma-agent runs on the other nodes and the gossip port is open between them.", silent...)
	}

	median, medianBound := medianOffset(samples)
	type judged struct {
		TimeSample
		skew   time.Duration
		status checks.Status
	}
	js := make([]judged, len(samples))
	for i, s := range samples {
		skew := s.Offset - median
		st := checks.OK
		// Only what the measurement proves counts: the skew less the
		// uncertainty of this sample and of the median's.
		switch abs := absDuration(skew) - s.Bound - medianBound; {
		case abs >= crit:
			st = checks.Crit
		case abs >= warn:
			st = checks.Warn
		}
		js[i] = judged{s, skew, st}
	}
	// Worst first, then by name, so the details read as a ranking.
	slices.SortFunc(js, func(a, b judged) int {
		return cmp.Or(cmp.Compare(absDuration(b.skew), absDuration(a.skew)), cmp.Compare(a.Node, b.Node))
	})

	worst := checks.OK
	var bad, details []string
	f.values = make(map[string]float64, len(js))
	for _, j := range js {
		f.values[j.Node] = j.skew.Seconds()
		worst = checks.Worst(worst, j.status)
		d := fmt.Sprintf("%s: skew %s from the median (±%s)", j.Node, signed(j.skew), roundDisplay(max(j.RTT/2, j.Bound)).String())
		if j.status != checks.OK {
			bad = append(bad, fmt.Sprintf("%s %s", j.Node, signed(j.skew)))
			d += " " + j.status.String()
		}
		details = append(details, d)
	}
	details = append(details, silent...)

	if worst == checks.OK {
		return checks.Okf(fmt.Sprintf("%s within %s of the cluster median", plural(len(js), "clock", "clocks"), warn), details...)
	}
	limit := warn
	if worst == checks.Crit {
		limit = crit
	}
	var nodes []string
	for _, j := range js {
		if j.status != checks.OK {
			nodes = append(nodes, j.Node)
		}
	}
	f.nodes = nodes
	msg := fmt.Sprintf("clock skew from the cluster median: %s (limit %s)", nameList(bad), limit)
	remedy := fmt.Sprintf("On %s: configure and synchronise NTP (check `timedatectl status` and `chronyc tracking` or `ntpq -p`), "+
		"then step the clock once (`chronyc makestep`, or `systemctl restart systemd-timesyncd`). "+
		"Skew is measured against the median of all nodes, so the nodes named here are the outliers.", nameList(nodes))
	if len(js) == 2 {
		remedy += " With only 2 nodes the median lies between them: check both against a trusted clock (`chronyc sources`)."
	}
	return checks.Result{Status: worst, Message: msg, Remedy: remedy, Details: details}
}

// dedupSamples keeps the first sample of each node.
func dedupSamples(in []TimeSample) []TimeSample {
	seen := make(map[string]bool, len(in))
	out := make([]TimeSample, 0, len(in))
	for _, s := range in {
		if !seen[s.Node] {
			seen[s.Node] = true
			out = append(out, s)
		}
	}
	return out
}

// medianOffset is the median of the samples' offsets and its uncertainty
// (the Bound of the sample it is, or the larger of the two it lies between).
func medianOffset(s []TimeSample) (time.Duration, time.Duration) {
	o := slices.Clone(s)
	slices.SortFunc(o, func(a, b TimeSample) int { return cmp.Compare(a.Offset, b.Offset) })
	n := len(o)
	if n%2 == 1 {
		return o[n/2].Offset, o[n/2].Bound
	}
	lo, hi := o[n/2-1], o[n/2]
	// Halve first so two huge offsets cannot overflow.
	return lo.Offset/2 + hi.Offset/2 + (lo.Offset%2+hi.Offset%2)/2, max(lo.Bound, hi.Bound)
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		if d == -d { // math.MinInt64
			return time.Duration(1<<63 - 1)
		}
		return -d
	}
	return d
}

// signed prints a duration with an explicit sign: "+1.5s", "-20ms", to
// the precision the measurement has (RTT/2 on a LAN is tens of µs to ms).
func signed(d time.Duration) string {
	d = roundDisplay(d)
	if d >= 0 {
		return "+" + d.String()
	}
	return d.String()
}

func roundDisplay(d time.Duration) time.Duration {
	switch a := d.Abs(); {
	case a >= time.Second:
		return d.Round(time.Millisecond)
	case a >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
