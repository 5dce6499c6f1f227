package main

import (
	"slices"
	"strings"
	"testing"
)

// fakeRuntime records what a knob asked of the runtime.
type fakeRuntime struct {
	current int
	sets    []int
}

// gomaxprocs behaves like runtime.GOMAXPROCS: n < 1 only reads.
func (f *fakeRuntime) gomaxprocs(n int) int {
	prev := f.current
	if n > 0 {
		f.sets = append(f.sets, n)
		f.current = n
	}
	return prev
}

// setGCPercent behaves like debug.SetGCPercent.
func (f *fakeRuntime) setGCPercent(n int) int {
	prev := f.current
	f.sets = append(f.sets, n)
	f.current = n
	return prev
}

func TestRuntimeKnobs(t *testing.T) {
	for _, tc := range []struct {
		name       string
		knob       func(*fakeRuntime) runtimeKnob
		before     int // what the runtime chose at start (Go's default, or the variable's value)
		configured int
		env        string
		wantN      int
		wantSets   []int
		wantFrom   string
	}{
		{"max procs: default one P", maxProcsOf, 8, 1, "", 1, []int{1}, "agent.max_procs"},
		{"max procs: configured four", maxProcsOf, 8, 4, "", 4, []int{4}, "agent.max_procs"},
		{"max procs: zero keeps Go's default", maxProcsOf, 8, 0, "", 8, nil, "Go's default (agent.max_procs: 0)"},
		{"max procs: environment wins", maxProcsOf, 3, 1, "3", 3, nil, "GOMAXPROCS=3 in the environment"},
		{"gc percent: default 100", gcPercentOf, 100, 100, "", 100, []int{100}, "agent.gc_percent"},
		{"gc percent: configured 50", gcPercentOf, 100, 50, "", 50, []int{50}, "agent.gc_percent"},
		{"gc percent: zero keeps Go's default", gcPercentOf, 100, 0, "", 100, nil, "Go's default (agent.gc_percent: 0)"},
		{"gc percent: environment wins", gcPercentOf, 80, 50, "80", 80, nil, "GOGC=80 in the environment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRuntime{current: tc.before}
			k := tc.knob(f)
			getenv := func(name string) string {
				if name == k.env {
					return tc.env
				}
				return ""
			}
			got := k.apply(tc.configured, getenv)
			if got.n != tc.wantN || !strings.Contains(got.from, tc.wantFrom) {
				t.Errorf("got %+v, want n=%d from %q", got, tc.wantN, tc.wantFrom)
			}
			if !slices.Equal(f.sets, tc.wantSets) {
				t.Errorf("runtime set to %v, want %v", f.sets, tc.wantSets)
			}
		})
	}
}

func maxProcsOf(f *fakeRuntime) runtimeKnob { return maxProcsKnob(f.gomaxprocs) }

func gcPercentOf(f *fakeRuntime) runtimeKnob {
	return gcPercentKnob(f.setGCPercent, func() int { return f.current })
}
