package goruntime

import (
	"runtime/debug"
	"testing"
)

// TestGCPercentReadsTheRuntime: the reader sees what debug.SetGCPercent
// set, and collection off as -1.
func TestGCPercentReadsTheRuntime(t *testing.T) {
	prev := debug.SetGCPercent(37)
	defer debug.SetGCPercent(prev)
	if got := GCPercent(); got != 37 {
		t.Errorf("GCPercent after SetGCPercent(37) = %d", got)
	}
	debug.SetGCPercent(-1)
	if got := GCPercent(); got != -1 {
		t.Errorf("GCPercent with collection off = %d, want -1", got)
	}
}
