package schedule

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestJitteredStaysWithinBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, interval := range []time.Duration{5 * time.Millisecond, time.Second, 30 * time.Second} {
		for _, jitter := range []float64{0, 0.1, 0.5} {
			lo := time.Duration(float64(interval) * (1 - jitter))
			hi := time.Duration(float64(interval) * (1 + jitter))
			var sawLow, sawHigh bool
			for range 2000 {
				d := Jittered(interval, jitter, rng.Float64())
				if d < lo || d > hi {
					t.Fatalf("Jittered(%v, %v) = %v, outside [%v, %v]", interval, jitter, d, lo, hi)
				}
				sawLow = sawLow || d < interval
				sawHigh = sawHigh || d > interval
			}
			if jitter > 0 && !(sawLow && sawHigh) {
				t.Errorf("Jittered(%v, %v) never spread both ways", interval, jitter)
			}
		}
	}
	// The extremes of r map to the extremes of the range.
	if d := Jittered(time.Second, 0.1, 0); d != 900*time.Millisecond {
		t.Errorf("r=0: %v", d)
	}
	if d := Jittered(time.Second, 0.1, 1); d != 1100*time.Millisecond {
		t.Errorf("r=1: %v", d)
	}
}

func TestFirstDelaySpreadsOverCappedInterval(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, interval := range []time.Duration{5 * time.Millisecond, 30 * time.Second} {
		limit := min(interval, maxFirstDelay)
		for range 2000 {
			if d := firstDelay(interval, rng.Float64()); d < 0 || d >= limit {
				t.Fatalf("firstDelay(%v) = %v, outside [0, %v)", interval, d, limit)
			}
		}
	}
}

func TestOptionsClampJitterAndUseInjectedRand(t *testing.T) {
	calls := 0
	o := Options{Jitter: 3, Rand: func() float64 { calls++; return 0.25 }}.withDefaults()
	if o.Jitter != MaxJitter {
		t.Errorf("jitter 3 clamped to %v, want %v", o.Jitter, MaxJitter)
	}
	if o.Interval != DefaultInterval {
		t.Errorf("default interval %v", o.Interval)
	}
	if o = (Options{Jitter: -1}).withDefaults(); o.Jitter != 0 {
		t.Errorf("jitter -1 clamped to %v", o.Jitter)
	}
	s := New(nil, Options{Rand: func() float64 { calls++; return 0.25 }, Logger: quiet()})
	if r := s.random(); r != 0.25 || calls != 1 {
		t.Errorf("random() = %v after %d calls; the injected Rand was not used", r, calls)
	}
}

func TestIntervalsOverrideByName(t *testing.T) {
	o := Options{Interval: time.Minute, Intervals: map[string]time.Duration{"ntp": 2 * time.Minute, "bad": -1}}
	if d := o.intervalOf("ntp"); d != 2*time.Minute {
		t.Errorf("ntp: %v", d)
	}
	if d := o.intervalOf("bad"); d != time.Minute {
		t.Errorf("negative override used: %v", d)
	}
	if d := o.intervalOf("disk"); d != time.Minute {
		t.Errorf("disk: %v", d)
	}
}
