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

func TestParseArgs(t *testing.T) {
	cfg, err := parseArgs([]string{"core", "--id", "abc", "--raft.join", "seed:7209", "--health", "0.0.0.0:9000", "--ports", "1,2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config{id: "abc", join: "seed:7209", listen: "0.0.0.0", health: "0.0.0.0:9000",
		ports: []int{1, 2}, stateDir: "/var/lib/fake-kuma-core/abc"}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got %+v, want %+v", cfg, want)
	}
	cfg, err = parseArgs([]string{"core", "--id", "x", "--listen", "127.0.0.1", "--health", "7300"}, io.Discard)
	if err != nil || cfg.health != "127.0.0.1:7300" || len(cfg.ports) != 5 {
		t.Fatalf("defaults: %+v, %v", cfg, err)
	}
	for _, bad := range [][]string{
		nil,
		{"collector", "--id", "x"},
		{"core"},
		{"core", "--id", "../x"},
		{"core", "--id", "x", "--ports", "7209,nope"},
		{"core", "--id", "x", "extra"},
	} {
		if _, err := parseArgs(bad, io.Discard); err == nil {
			t.Errorf("parseArgs(%q): want error", bad)
		}
	}
}
