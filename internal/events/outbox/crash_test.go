package outbox

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const crashDirEnv = "OUTBOX_CRASH_CHILD_DIR"

// TestCrashChild is the child of TestSIGKILLMidWrite: it appends numbered
// events as fast as it can, printing each number once Append returned, until
// it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("only run as the child of TestSIGKILLMidWrite")
	}
	ob, err := Open(Options{Dir: dir, Sync: SyncAlways, SegmentBytes: 16 << 10})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	w := bufio.NewWriterSize(os.Stdout, 64)
	for i := 0; ; i++ {
		if err := ob.Append(seqEvent(t, i)); err != nil {
			fmt.Println("append:", err)
			os.Exit(2)
		}
		fmt.Fprintf(w, "%d\n", i)
		w.Flush()
	}
}

func TestSIGKILLMidWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	for round := range 5 {
		t.Run(strconv.Itoa(round), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			lastDone, lines := -1, 0
			var other []string
			readDone := make(chan struct{})
			go func() {
				defer close(readDone)
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					mu.Lock()
					if n, err := strconv.Atoi(sc.Text()); err == nil {
						lastDone = n
						lines++
					} else if !strings.HasPrefix(sc.Text(), "=== RUN") {
						other = append(other, sc.Text())
					}
					mu.Unlock()
				}
			}()
			// Kill only once it is appending, ~200ms in.
			time.Sleep(200 * time.Millisecond)
			for i := 0; i < 100; i++ {
				mu.Lock()
				n := lines
				mu.Unlock()
				if n > 0 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-readDone
			cmd.Wait()
			mu.Lock()
			defer mu.Unlock()
			if lastDone < 0 {
				t.Fatalf("child appended nothing; other output: %v", other)
			}

			ob := open(t, Options{Dir: dir})
			evs := drainAll(t, ob, 1000)
			// Everything Append returned for is there, in order, once; the
			// one being written when killed may or may not be.
			if len(evs) < lastDone+1 || len(evs) > lastDone+2 {
				t.Fatalf("recovered %d events, child reported %d appended", len(evs), lastDone+1)
			}
			wantSeqs(t, evs, 0, len(evs))
			if ob.Dropped() != 0 {
				t.Fatalf("Dropped = %d after a crash", ob.Dropped())
			}
			t.Logf("child appended %d, recovered %d", lastDone+1, len(evs))
		})
	}
}
