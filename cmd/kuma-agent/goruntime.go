package main

import (
	"fmt"

	"github.com/kuma-agent/kuma-agent/internal/goruntime"
)

// runtimeKnob is a Go runtime setting the daemon takes from agent.yaml
// unless the runtime's own environment variable is set (a drop-in's
// Environment=), which the runtime has already applied and which wins.
type runtimeKnob struct {
	env   string // the runtime's variable: GOMAXPROCS, GOGC
	field string // the agent.yaml field, for the log
	// set applies a value; current reads the one in effect. Injected:
	// runtime.GOMAXPROCS, debug.SetGCPercent and their readers.
	set     func(int) int
	current func() int
}

// knobSetting is the value in effect and what decided it, for the
// start-up log.
type knobSetting struct {
	n    int
	from string
}

// apply sets the knob to configured; 0 keeps Go's default.
func (k runtimeKnob) apply(configured int, getenv func(string) string) knobSetting {
	if v := getenv(k.env); v != "" {
		return knobSetting{n: k.current(), from: fmt.Sprintf("%s=%s in the environment", k.env, v)}
	}
	if configured <= 0 {
		return knobSetting{n: k.current(), from: fmt.Sprintf("Go's default (%s: 0)", k.field)}
	}
	k.set(configured)
	return knobSetting{n: configured, from: k.field}
}

// maxProcsKnob: how many Ps run the daemon's Go code (agent.max_procs,
// default 1; 0: Go's one per CPU, which Go keeps updating from the
// cgroup's CPU limit).
//
// Why one P by default: the agent is a few goroutines that mostly wait
// (probes, timers, queries), and a Go program with N Ps also runs up to N
// threads spinning for work, a GC with N workers and a sysmon: with one P
// an idle agent used a fifth less CPU and 50 agents on two cores loaded
// the machine a third as much, which is what kept a starved agent from
// being declared dead (README, Figures). Blocking syscalls and cgo do not
// hold the P, so a slow disk or DNS does not stop the mesh.
func maxProcsKnob(gomaxprocs func(int) int) runtimeKnob {
	return runtimeKnob{env: "GOMAXPROCS", field: "agent.max_procs", set: gomaxprocs,
		current: func() int { return gomaxprocs(0) }}
}

// gcPercentKnob: how far the heap grows past the live heap before Go
// collects (agent.gc_percent, default 100, Go's own; 0 the same).
//
// Why not less by default: an idle agent's live heap is 2-4 MB, and Go
// lets the heap grow by as much again before collecting, so most of its
// anonymous memory is garbage waiting for the next cycle. 50 holds 1.8
// MiB less (29.4 against 31.2 MiB in the 7-node lab, 29.2 against 30.9
// at 50) for about 0.1 % of a core more, but its twice as frequent
// collections delay a starved agent's gossip: the 50-agent lab on two
// shared cores missed the detection tail with it (README, Figures).
func gcPercentKnob(setGCPercent func(int) int, current func() int) runtimeKnob {
	return runtimeKnob{env: "GOGC", field: "agent.gc_percent", set: setGCPercent, current: current}
}

// gcPercentInEffect is the runtime's GC percent for the start-up log; 0
// when the runtime cannot say (goruntime.GCPercent).
func gcPercentInEffect() int {
	n, _ := goruntime.GCPercent()
	return n
}
