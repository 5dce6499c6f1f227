package clusterchecks

import (
	"cmp"
	"slices"
	"sort"
	"unicode/utf8"

	"github.com/kuma-agent/kuma-agent/checks"
)

// TruncatedMark ends every text TrimDoctorReply shortened.
const TruncatedMark = " [truncated]"

// TrimDoctorReply returns a copy of r whose EncodePayload fits in limit bytes
// (limit <= 0 or above MaxPayload means MaxPayload). It gives up the least
// useful text first: details (of the least severe findings first), then
// the tails of remedies, then of messages, and last whole findings (least
// severe first), marking each cut. Only an r whose host name alone does not
// fit is returned over budget. r is not modified.
func TrimDoctorReply(r DoctorReply, limit int) DoctorReply {
	if limit <= 0 || limit > MaxPayload {
		limit = MaxPayload
	}
	fits := func(c DoctorReply) bool {
		b, err := EncodePayload(c)
		return err == nil && len(b) <= limit
	}
	base := cloneReply(r)
	if fits(base) {
		return base
	}
	base.Truncated = true

	// order: findings least severe first, later ones first among equals
	// (doctor lists the important checks first).
	order := make([]int, len(base.Findings))
	for i := range order {
		order[i] = len(order) - 1 - i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(severity(base.Findings[a]), severity(base.Findings[b]))
	})

	// 1. Drop the details of the first k findings in order.
	dropDetails := func(k int) DoctorReply {
		c := cloneReply(base)
		for _, i := range order[:k] {
			f := &c.Findings[i]
			f.DetailsOmitted += len(f.Details)
			f.Details = nil
		}
		return c
	}
	if c, ok := smallestFit(len(order), dropDetails, fits); ok {
		return c
	}
	base = dropDetails(len(order))

	// 2. and 3. Cut remedies, then messages, to at most n bytes each.
	for _, field := range []func(*FindingWire) *string{
		func(f *FindingWire) *string { return &f.Remedy },
		func(f *FindingWire) *string { return &f.Message },
	} {
		longest := 0
		for i := range base.Findings {
			longest = max(longest, len(*field(&base.Findings[i])))
		}
		cut := func(k int) DoctorReply { // k: bytes removed from the limit
			c := cloneReply(base)
			for i := range c.Findings {
				s := field(&c.Findings[i])
				*s = truncateText(*s, longest-k)
			}
			return c
		}
		if c, ok := smallestFit(longest, cut, fits); ok {
			return c
		}
		base = cut(longest)
	}

	// 4. Drop whole findings, least severe first.
	drop := func(k int) DoctorReply {
		c := cloneReply(base)
		gone := map[int]bool{}
		for _, i := range order[:k] {
			gone[i] = true
		}
		c.Findings = c.Findings[:0]
		for i, f := range base.Findings {
			if !gone[i] {
				c.Findings = append(c.Findings, f)
			}
		}
		c.FindingsOmitted += k
		return c
	}
	c, _ := smallestFit(len(order), drop, fits)
	return c
}

// smallestFit finds the smallest k in [0, n] whose candidate fits, assuming
// larger k cut more; ok is false (and the candidate for n returned) when
// even n does not fit.
func smallestFit(n int, candidate func(int) DoctorReply, fits func(DoctorReply) bool) (DoctorReply, bool) {
	k := sort.Search(n+1, func(k int) bool { return fits(candidate(k)) })
	if k > n {
		return candidate(n), false
	}
	c := candidate(k)
	// Compression makes size only nearly monotonic in k: confirm.
	if fits(c) {
		return c, true
	}
	c = candidate(n)
	return c, fits(c)
}

// truncateText cuts s to at most n bytes on a rune boundary and marks it;
// shorter texts are kept.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n = max(n, 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	if n == 0 {
		return TruncatedMark[1:]
	}
	return s[:n] + TruncatedMark
}

func severity(f FindingWire) checks.Status {
	st, err := checks.ParseStatus(f.Status)
	if err != nil {
		return checks.Unknown
	}
	return st
}

func cloneReply(r DoctorReply) DoctorReply {
	c := r
	c.Cores = slices.Clone(r.Cores)
	c.Certs = slices.Clone(r.Certs)
	c.Findings = make([]FindingWire, len(r.Findings))
	for i, f := range r.Findings {
		f.Details = slices.Clone(f.Details)
		c.Findings[i] = f
	}
	return c
}
