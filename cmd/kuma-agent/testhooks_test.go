//go:build !kumatesthooks

package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// Finding 6: KUMA_AGENT_TEST_CLOCK_OFFSET was honoured in production builds
// (a negative offset hides a real skew). The default build (`make build`,
// `make package`, this test binary) ignores it and says so.
func TestDefaultBuildIgnoresClockOffset(t *testing.T) {
	if testHooks {
		t.Fatal("the default build has test hooks")
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	for _, v := range []string{"-3s", "1500ms", "garbage"} {
		logs.Reset()
		got, err := testClockOffset(func(k string) string {
			if k == testClockOffsetEnv {
				return v
			}
			return ""
		}, log)
		if err != nil || got.offset != 0 || got.set {
			t.Errorf("%s=%s: offset %v, set %v, err %v; want ignored", testClockOffsetEnv, v, got.offset, got.set, err)
		}
		if !strings.Contains(logs.String(), "ignoring "+testClockOffsetEnv) {
			t.Errorf("%s=%s: no warning logged: %q", testClockOffsetEnv, v, logs.String())
		}
	}
}
