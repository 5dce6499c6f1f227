//go:build !kumatesthooks

package main

import "log/slog"

// testHooks says whether this build honours the test hooks: only a build
// with -tags kumatesthooks does (the e2e tests and the demo build one);
// `make build` and `make package` do not.
const testHooks = false

// testClockOffset is 0 in a production build: a set
// KUMA_AGENT_TEST_CLOCK_OFFSET is ignored (a negative offset would hide a
// real skew from doctor --cluster), with a warning.
func testClockOffset(getenv func(string) string, log *slog.Logger) (offsetResult, error) {
	if v := getenv(testClockOffsetEnv); v != "" {
		log.Warn("ignoring "+testClockOffsetEnv+": this build has no test hooks (only -tags kumatesthooks honours it)", "value", v)
	}
	return offsetResult{}, nil
}
