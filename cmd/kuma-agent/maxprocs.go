package main

import "fmt"

// maxProcsEnv is the Go runtime's own knob; when an operator sets it (a
// drop-in's Environment=) it wins over agent.max_procs.
const maxProcsEnv = "GOMAXPROCS"

// procsSetting is how many Ps the daemon runs with and what decided it,
// for the start-up log.
type procsSetting struct {
	n    int
	from string
}

// applyMaxProcs sets the daemon's GOMAXPROCS from agent.max_procs
// (configured; 0 keeps Go's default of one per CPU, which Go keeps
// updating from the cgroup's CPU limit) unless the GOMAXPROCS environment
// variable is set, which the runtime has already applied. gomaxprocs is
// runtime.GOMAXPROCS, injected for tests.
//
// Why one P by default: the agent is a few goroutines that mostly wait
// (probes, timers, queries), and a Go program with N Ps also runs up to N
// threads spinning for work, a GC with N workers and a sysmon: with one P
// an idle agent used a fifth less CPU and 50 agents on two cores loaded
// the machine a third as much, which is what kept a starved agent from
// being declared dead (README, Figures). Blocking syscalls and cgo do not
// hold the P, so a slow disk or DNS does not stop the mesh.
func applyMaxProcs(configured int, getenv func(string) string, gomaxprocs func(int) int) procsSetting {
	if v := getenv(maxProcsEnv); v != "" {
		return procsSetting{n: gomaxprocs(0), from: fmt.Sprintf("%s=%s in the environment", maxProcsEnv, v)}
	}
	if configured <= 0 {
		return procsSetting{n: gomaxprocs(0), from: "Go's default (agent.max_procs: 0)"}
	}
	gomaxprocs(configured)
	return procsSetting{n: configured, from: "agent.max_procs"}
}
