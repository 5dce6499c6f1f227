// Package checks holds the node checks and the runner that executes them.
//
// A Check probes one thing and returns a Result; every input a check reads
// (files, clocks, dialers, commands) is a field of its struct so tests can
// run it on crafted inputs and the agent on the real machine. The Runner adds
// what no single check should reimplement: a per-check timeout, bounded
// concurrency and, through the Thresholds decorator, flap damping.
package checks
