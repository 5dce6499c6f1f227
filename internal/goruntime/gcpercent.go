// Package goruntime reads the Go runtime's settings that the daemon
// chooses (agent.max_procs, agent.gc_percent) for its log and /metrics.
package goruntime

import "runtime/metrics"

// GCPercent is the GC percent in effect (GOGC, or what debug.SetGCPercent
// set), read without changing it; -1 means collection is off.
func GCPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return -1
	}
	return int(s[0].Value.Uint64())
}
