package main

import (
	"slices"
	"strings"
	"testing"
)

// fakeProcs records what applyMaxProcs asked of the runtime.
type fakeProcs struct {
	current int
	sets    []int
}

func (f *fakeProcs) gomaxprocs(n int) int {
	prev := f.current
	if n > 0 {
		f.sets = append(f.sets, n)
		f.current = n
	}
	return prev
}

func TestApplyMaxProcs(t *testing.T) {
	for _, tc := range []struct {
		name       string
		configured int
		env        string
		wantN      int
		wantSets   []int
		wantFrom   string
	}{
		{"default one P", 1, "", 1, []int{1}, "agent.max_procs"},
		{"configured four", 4, "", 4, []int{4}, "agent.max_procs"},
		{"zero keeps Go's default", 0, "", 8, nil, "Go's default"},
		{"environment wins", 1, "3", 8, nil, "GOMAXPROCS=3 in the environment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeProcs{current: 8} // what the runtime chose before: 8 CPUs, or the env's value
			getenv := func(k string) string {
				if k == maxProcsEnv {
					return tc.env
				}
				return ""
			}
			got := applyMaxProcs(tc.configured, getenv, f.gomaxprocs)
			if got.n != tc.wantN || !strings.Contains(got.from, tc.wantFrom) {
				t.Errorf("got %+v, want n=%d from %q", got, tc.wantN, tc.wantFrom)
			}
			if !slices.Equal(f.sets, tc.wantSets) {
				t.Errorf("runtime set to %v, want %v", f.sets, tc.wantSets)
			}
		})
	}
}
