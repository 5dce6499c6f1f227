package main

import (
	"io"
	"os"
	"reflect"
	"testing"
)

// TestMain lets the tests run this package's main as a child process by re-executing
// the (race-instrumented) test binary, instead of shelling out to `go build`.
func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func noEnv(string) string { return "" }

// The documented Core command line (KUMA 4.0 help) is accepted as it is.
func TestParseArgsDocumented(t *testing.T) {
	args := []string{"core", "--raft.node.listen", "0.0.0.0:7209", "--raft.node.addr", "core-1.example:7209",
		"--health", "0.0.0.0:7208", "--internal", "0.0.0.0:7210", "--private", "0.0.0.0:7220",
		"--cybertrace", "0.0.0.0:7222", "--rest", "0.0.0.0:7223", "--id", "abc", "--raft.join", "seed.example:7209", "--install"}
	cfg, err := parseArgs(args, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config{id: "abc", join: "seed.example:7209", raftAddr: "core-1.example:7209", install: true, health: "0.0.0.0:7208",
		listeners: map[string]string{"raft.node.listen": "0.0.0.0:7209", "internal": "0.0.0.0:7210", "private": "0.0.0.0:7220",
			"cybertrace": "0.0.0.0:7222", "rest": "0.0.0.0:7223"},
		workDir: "/opt/kaspersky/kuma/core/abc", stateDir: "/var/lib/fake-kuma-core/abc"}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got %+v, want %+v", cfg, want)
	}
	env := map[string]string{rootEnv: "/r", stateEnv: "/s"}
	cfg, err = parseArgs([]string{"core", "--id", "x"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil || cfg.workDir != "/r/core/x" || cfg.stateDir != "/s" || cfg.health != "" || len(cfg.listeners) != 0 {
		t.Fatalf("env roots: %+v, %v", cfg, err)
	}
}

// Anything beyond the documented flags fails, as an unknown flag would on the real binary.
func TestParseArgsRefusesUndocumented(t *testing.T) {
	for _, bad := range [][]string{
		nil,
		{"collector", "--id", "x"},
		{"core"},
		{"core", "--id", "../x"},
		{"core", "--id", "x", "extra"},
		{"core", "--id", "x", "--leader"},
		{"core", "--id", "x", "--listen", "0.0.0.0"},
		{"core", "--id", "x", "--ports", "7209"},
		{"core", "--id", "x", "--state-dir", "/tmp"},
		{"core", "--id", "x", "--health", "7208"},
		{"core", "--id", "x", "--raft.join", "no-port"},
	} {
		if _, err := parseArgs(bad, noEnv, io.Discard); err == nil {
			t.Errorf("parseArgs(%q): want error", bad)
		}
	}
	if code, out := runOnce(t, nil, "core", "--id", "x", "--leader"); code != 2 {
		t.Errorf("undocumented flag: exit %d (%s), want 2", code, out)
	}
}
