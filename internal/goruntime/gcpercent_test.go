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
	if got, ok := GCPercent(); got != 37 || !ok {
		t.Errorf("GCPercent after SetGCPercent(37) = %d, %v", got, ok)
	}
	debug.SetGCPercent(-1)
	if got, ok := GCPercent(); got != -1 || !ok {
		t.Errorf("GCPercent with collection off = %d, %v; want -1, true", got, ok)
	}
}
