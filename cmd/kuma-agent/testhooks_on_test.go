//go:build kumatesthooks

package main

import (
	"io"
	"log/slog"
	"testing"
	"time"
)

// A test build (-tags kumatesthooks, as the e2e tests and the demo build
// it) honours the clock offset.
func TestTestBuildHonoursClockOffset(t *testing.T) {
	if !testHooks {
		t.Fatal("a kumatesthooks build without test hooks")
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == testClockOffsetEnv {
				return v
			}
			return ""
		}
	}
	got, err := testClockOffset(env("-3s"), log)
	if err != nil || got.offset != -3*time.Second || !got.set {
		t.Fatalf("offset %v set %v err %v", got.offset, got.set, err)
	}
	if _, err := testClockOffset(env("soon"), log); err == nil {
		t.Fatal("a bad offset was accepted")
	}
}
