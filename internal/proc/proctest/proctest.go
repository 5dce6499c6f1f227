// Package proctest holds the test helpers for programs run through
// package proc: whether a process still lives, and a bounded wait for its
// death.
package proctest

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// TB is the part of testing.TB WaitDead uses (*testing.T satisfies it):
// a non-test file does not import the testing package.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Alive reports whether pid exists and is not a zombie: a zombie was
// killed, only not yet reaped by whatever adopted it (in a container
// nobody may).
func Alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// WaitDead waits, boundedly, for pid to die: SIGKILL is delivered
// asynchronously, so "dead" may lag the return of the run a little. A
// survivor is killed and the test fails.
func WaitDead(t TB, pid int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); Alive(pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("process %d still alive", pid)
		}
	}
}
