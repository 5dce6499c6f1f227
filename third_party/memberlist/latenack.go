// kuma-agent patch (third_party/README.md): the indirect peers' nacks of a
// failed probe counted when they can arrive.

package memberlist

import "time"

// countNacksLate applies a failed probe's health penalty at end instead of
// at the probe's deadline: one point per expected nack that has not
// arrived by then (upstream's rule, on a window the nacks can meet). It
// does not wait on the probe's path: the suspicion is raised at the
// deadline as upstream does, and only the score comes later.
//
// Why: an indirect peer nacks ProbeTimeout after it got the request, which
// was sent ProbeTimeout after the probe started; with the lan profile's
// 300 ms probe and 200 ms timeout the nacks arrive about 400 ms into a
// 300 ms probe, so upstream saw none, and every probe of a peer that is
// really gone cost a healthy prober IndirectChecks points: a probe interval
// four times as long (1.2 s instead of 300 ms) until three good probes
// brought it back. A node that is itself slow still misses the nacks (it
// does not read them in time) and still backs off.
func (m *Memberlist) countNacksLate(nackCh <-chan struct{}, expected int, end time.Time) {
	go func() {
		t := time.NewTimer(time.Until(end))
		defer t.Stop()
		select {
		case <-t.C:
		case <-m.shutdownCh:
			return
		}
		if got := len(nackCh); got < expected {
			m.awareness.ApplyDelta(expected - got)
		}
	}()
}
