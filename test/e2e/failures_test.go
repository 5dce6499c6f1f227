package e2e

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// A failed scenario dumps every agent's log after its failure message
// (meshLab.dumpLogs, a cleanup), which buries the message hundreds of
// lines above the end of the output, where a CI report's excerpt is
// taken. So the scenarios fail through fatalf, fatal and errorf, which
// keep each test's failures, and the cleanup that dumps the logs ends
// with repeatFailures. Failures raised inside the labs (netlab,
// nspawnlab) are not kept: they fail before any agent has a log.

// failureLog holds the failure messages of each test, by test name.
var failureLog struct {
	sync.Mutex
	byTest map[string][]string
}

// noteFailure keeps msg as one of t's failures.
func noteFailure(t testing.TB, msg string) {
	failureLog.Lock()
	defer failureLog.Unlock()
	if failureLog.byTest == nil {
		failureLog.byTest = map[string][]string{}
	}
	failureLog.byTest[t.Name()] = append(failureLog.byTest[t.Name()], msg)
}

// repeatFailures logs t's failures and its subtests' again and forgets
// them (a run with -count=N repeats only its own).
func repeatFailures(t testing.TB) {
	t.Helper()
	for _, f := range failuresOf(t.Name()) {
		t.Logf("==== failed: %s", f)
	}
	failureLog.Lock()
	defer failureLog.Unlock()
	for test := range failureLog.byTest {
		if test == t.Name() || strings.HasPrefix(test, t.Name()+"/") {
			delete(failureLog.byTest, test)
		}
	}
}

// failuresOf returns the failures of the test named name and of its
// subtests, in the order they happened within each test.
func failuresOf(name string) []string {
	failureLog.Lock()
	defer failureLog.Unlock()
	var out []string
	for test, msgs := range failureLog.byTest {
		if test != name && !strings.HasPrefix(test, name+"/") {
			continue
		}
		for _, m := range msgs {
			out = append(out, test+": "+m)
		}
	}
	return out
}

// fatalf is t.Fatalf, the message kept for the end of the output.
func fatalf(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	noteFailure(t, msg)
	t.Fatal(msg)
}

// fatal is t.Fatal, the message kept for the end of the output.
func fatal(t testing.TB, args ...any) {
	t.Helper()
	msg := strings.TrimSuffix(fmt.Sprintln(args...), "\n")
	noteFailure(t, msg)
	t.Fatal(msg)
}

// errorf is t.Errorf, the message kept for the end of the output.
func errorf(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	noteFailure(t, msg)
	t.Error(msg)
}

// TestFailuresOf: a test's failures and its subtests' are repeated; a
// test whose name only begins the same is not.
func TestFailuresOf(t *testing.T) {
	name := t.Name()
	t.Run("sub", func(t *testing.T) { noteFailure(t, "in the subtest") })
	noteFailure(t, "first")
	noteFailure(t, "second")
	failureLog.Lock()
	failureLog.byTest[name+"Other"] = []string{"another test's"}
	failureLog.Unlock()
	t.Cleanup(func() {
		failureLog.Lock()
		defer failureLog.Unlock()
		delete(failureLog.byTest, name+"Other")
	})
	got := failuresOf(name)
	slices.Sort(got)
	want := []string{name + "/sub: in the subtest", name + ": first", name + ": second"}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("failuresOf(%q) = %q, want %q", name, got, want)
	}
	// Repeated once, then forgotten: another test's stay.
	repeatFailures(t)
	if got := failuresOf(name); len(got) != 0 {
		t.Fatalf("after repeatFailures: %q", got)
	}
	if got := failuresOf(name + "Other"); len(got) != 1 {
		t.Fatalf("another test's failures forgotten: %q", got)
	}
}
