package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary runs the real main (signal handling included) when this
// variable names the arguments, one per line.
const mainArgsEnv = "KUMA_AGENT_TEST_MAIN_ARGS"

func init() {
	if a, ok := os.LookupEnv(mainArgsEnv); ok {
		os.Args = append([]string{"kuma-agent"}, strings.Split(a, "\n")...)
		main()
	}
}

// TestTermEndsABlockedCommand: `kill -TERM` ends a CLI command that is
// blocked on an agent that never answers, at once, not at its --timeout;
// the process exits with the command's error and its prefix.
func TestTermEndsABlockedCommand(t *testing.T) {
	cfg, accepted := silentAgentAccepts(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), mainArgsEnv+"="+strings.Join([]string{"doctor", "--cluster", "--config", cfg, "--timeout", "1h"}, "\n"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Connected means signal handling is set up and the command is
		// blocked reading an answer that never comes.
		select {
		case <-accepted:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%v: the command never connected to the agent", sig)
		}
		start := time.Now()
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() == 0 {
				t.Errorf("%v: exit %v, want a failure exit", sig, err)
			}
			if !strings.HasPrefix(stderr.String(), "kuma-agent doctor: ") {
				t.Errorf("%v: stderr %q, want the command's prefix", sig, stderr.String())
			}
			t.Logf("%v: ended %v after the signal", sig, time.Since(start).Round(time.Millisecond))
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("%v: still running 10 s after the signal (stderr %q)", sig, stderr.String())
		}
	}
}
