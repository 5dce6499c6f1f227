//go:build kumatesthooks

package main

import (
	"fmt"
	"log/slog"
	"time"
)

const testHooks = true

// testClockOffset reads KUMA_AGENT_TEST_CLOCK_OFFSET: this test build
// answers time queries with its clock shifted by it.
func testClockOffset(getenv func(string) string, log *slog.Logger) (offsetResult, error) {
	v := getenv(testClockOffsetEnv)
	if v == "" {
		return offsetResult{}, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return offsetResult{}, fmt.Errorf("%s: %w", testClockOffsetEnv, err)
	}
	log.Warn("test hook: answering time queries with a shifted clock", "offset", d)
	return offsetResult{offset: d, set: true}, nil
}
