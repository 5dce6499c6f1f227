package supervisor

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// TestFigureReaction: time from a unit's failure (systemd's
// StateChangeTimestamp) to the supervisor's reset-failed/start, and to the
// unit active again, on a real systemd. Not a pass/fail test: it prints
// the figure. KUMA_FIG_REACTION=N sets the number of crashes.
func TestFigureReaction(t *testing.T) {
	v := os.Getenv("KUMA_FIG_REACTION")
	if v == "" {
		t.Skip("figure: set KUMA_FIG_REACTION=<crashes> to run it")
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("KUMA_FIG_REACTION=%q: want a count", v)
	}
	h := bootSystemd(t)
	// No backoff: every crash is a first attempt, as in production after
	// the failure count expired.
	_, ev := h.runSupervisor(t, Backoff{Initial: time.Millisecond, Max: time.Millisecond, Window: time.Millisecond, MaxAttempts: 1000})
	var reaction, active []float64
	for i := 1; i <= n; i++ {
		h.fault(t, "a", "crash")
		eventuallyWithin(t, fmt.Sprintf("crash %d healed", i), 20*time.Second, func() bool {
			return ev.count(events.HealingFinished) == i
		})
		h.waitActive(t, sdCore, 20*time.Second)
		s := ev.startedFor(sdCore)[i-1]
		f, _ := ev.last(events.HealingFinished)
		reaction = append(reaction, s.ReactionMS)
		active = append(active, s.ReactionMS+f.DurationMS)
		time.Sleep(100 * time.Millisecond)
	}
	slices.Sort(reaction)
	slices.Sort(active)
	pct := func(xs []float64, p float64) float64 { return xs[min(len(xs)-1, int(p*float64(len(xs))))] }
	t.Logf("FIGURE reaction (failure -> reset-failed/start), %d crashes: median %.1f ms, p90 %.1f ms, max %.1f ms",
		n, pct(reaction, 0.5), pct(reaction, 0.9), reaction[len(reaction)-1])
	t.Logf("FIGURE failure -> active again (Type=notify READY): median %.1f ms, p90 %.1f ms, max %.1f ms",
		pct(active, 0.5), pct(active, 0.9), active[len(active)-1])
}
