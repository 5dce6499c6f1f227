// Package goruntime reads a Go runtime setting the daemon chooses
// (agent.gc_percent) that the runtime has no plain getter for, for the
// start-up log and /metrics. (GOMAXPROCS has one: runtime.GOMAXPROCS(0).)
package goruntime

import "runtime/metrics"

// GCPercent is the GC percent in effect (GOGC, or what debug.SetGCPercent
// set), read without changing it (debug.SetGCPercent would need a second
// call to put it back, racing anyone else's); -1 means collection is off.
// ok is false when the runtime has no such metric (Go before 1.21; this
// module needs a later one, so only a future runtime could drop it).
func GCPercent() (percent int, ok bool) {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0, false
	}
	// The runtime stores off as -1 and reports it as a uint64: the
	// conversion through int64 brings the -1 back.
	return int(int64(s[0].Value.Uint64())), true
}
