package mesh

// Failure-detection figures, skipped unless KUMA_BENCH_DETECT=1 because they
// run for minutes:
//
//	KUMA_BENCH_DETECT=1 go test -run 'TestFailureDetectionFigure|TestNoFalseFailuresUnderCPULoad' -v -timeout 30m ./agent/mesh/
//
// KUMA_BENCH_TRIALS (default 20) sets the ProfileLAN trial count on 3 and 5
// nodes; 9 nodes get half of it, 50 nodes and ProfileStock a quarter. KUMA_BENCH_SOAK
// (seconds, default 60) sets the length of the CPU-load soak,
// KUMA_BENCH_BURNERS_PER_CPU (default 2) its load.

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"
)

func benchEnabled(t *testing.T) {
	if os.Getenv("KUMA_BENCH_DETECT") != "1" {
		t.Skip("set KUMA_BENCH_DETECT=1 to run the failure-detection figures")
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// detectOnce starts a fresh cluster, shuts one agent down without a leave
// (like a kill: no goodbye is sent) and returns how long until the first and
// until the last of the others reported it failed.
func detectOnce(t *testing.T, profile Profile, nodes int) (first, all time.Duration) {
	t.Helper()
	agents := startCluster(t, nodes, Config{Keys: [][]byte{testKey(t)}, Profile: profile, Hosts: nodes})
	defer func() {
		for _, a := range agents {
			_ = a.Shutdown()
		}
	}()
	// Let probing settle and land the kill at a random probe phase.
	time.Sleep(time.Second + rand.N(time.Second))
	victim := agents[1+rand.IntN(nodes-1)]
	start := time.Now()
	_ = victim.Shutdown()
	first = time.Duration(1<<63 - 1)
	for _, a := range agents {
		if a == victim {
			continue
		}
		var ev MemberEvent
		eventually(t, a.cfg.NodeName+" to report failure", func() bool {
			var ok bool
			ev, ok = a.sink.find("failed", victim.cfg.NodeName)
			return ok
		})
		d := ev.Time.Sub(start)
		first, all = min(first, d), max(all, d)
	}
	return first, all
}

func summarize(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	pct := func(p float64) time.Duration { return s[int(p*float64(len(s)-1)+0.5)] }
	return fmt.Sprintf("median %v  p90 %v  min %v  max %v  (n=%d)",
		pct(0.5).Round(time.Millisecond), pct(0.9).Round(time.Millisecond),
		s[0].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond), len(s))
}

func TestFailureDetectionFigure(t *testing.T) {
	benchEnabled(t)
	trials := envInt("KUMA_BENCH_TRIALS", 20)
	runs := []struct {
		profile       Profile
		nodes, trials int
	}{
		{ProfileLAN, 3, trials},
		{ProfileLAN, 5, trials},
		{ProfileLAN, 9, max(trials/2, 3)},
		{ProfileLAN, 50, max(trials/4, 3)},
		{ProfileStock, 3, max(trials/4, 3)},
		{ProfileStock, 5, max(trials/4, 3)},
	}
	for _, r := range runs {
		var firsts, alls []time.Duration
		for range r.trials {
			f, a := detectOnce(t, r.profile, r.nodes)
			firsts, alls = append(firsts, f), append(alls, a)
		}
		t.Logf("profile=%s nodes=%d: all others see failed: %s", r.profile, r.nodes, summarize(alls))
		t.Logf("profile=%s nodes=%d: first sees failed:     %s", r.profile, r.nodes, summarize(firsts))
	}
}

// TestCPUBurnerHelper is not a test: TestNoFalseFailuresUnderCPULoad runs
// the test binary with KUMA_MESH_BURN=1 to get CPU-burning processes.
func TestCPUBurnerHelper(t *testing.T) {
	if os.Getenv("KUMA_MESH_BURN") != "1" {
		t.Skip("helper process only")
	}
	for range runtime.NumCPU() - 1 {
		go func() {
			//lint:ignore SA5002 burning CPU is the point
			for {
			}
		}()
	}
	//lint:ignore SA5002 burning CPU is the point
	for {
	}
}

// TestNoFalseFailuresUnderCPULoad keeps 5 ProfileLAN agents under CPU
// starvation (KUMA_BENCH_BURNERS_PER_CPU busy processes per core, default
// 2) and requires that nobody is
// reported failed, then measures detection of a real failure under load.
func TestNoFalseFailuresUnderCPULoad(t *testing.T) {
	benchEnabled(t)
	soak := time.Duration(envInt("KUMA_BENCH_SOAK", 60)) * time.Second
	burners := envInt("KUMA_BENCH_BURNERS_PER_CPU", 2) * runtime.NumCPU()
	agents := startCluster(t, 5, Config{Keys: [][]byte{testKey(t)}})

	for range burners {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCPUBurnerHelper$")
		cmd.Env = append(os.Environ(), "KUMA_MESH_BURN=1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
	maxHealth := 0
	for end := time.Now().Add(soak); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		for _, a := range agents {
			maxHealth = max(maxHealth, a.Stats().HealthScore)
		}
	}
	for _, a := range agents {
		for _, b := range agents {
			if ev, ok := a.sink.find("failed", b.cfg.NodeName); ok {
				t.Errorf("false failure under load: %s reported %s failed at %v", a.cfg.NodeName, b.cfg.NodeName, ev.Time)
			}
		}
	}
	t.Logf("soak %v with %d burners on %d CPUs: no false failures; max Lifeguard health score %d",
		soak, burners, runtime.NumCPU(), maxHealth)

	var alls []time.Duration
	for range 5 {
		_, a := detectOnce(t, ProfileLAN, 5)
		alls = append(alls, a)
	}
	t.Logf("under the same load, profile=lan nodes=5: all others see failed: %s", summarize(alls))
}
