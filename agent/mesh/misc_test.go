package mesh

import (
	"log/slog"
	"testing"
	"time"
)

// TestJoinBackoffGrowsCapsAndJitters pins the join schedule: 1 s, 2 s, 4 s
// ... up to 30 s, each jittered into [d/2, d).
func TestJoinBackoffGrowsCapsAndJitters(t *testing.T) {
	for _, r := range []float64{0, 0.5, 0.999} {
		b := defaultJoinBackoff
		b.Rand = func() float64 { return r }
		prevCeil := time.Duration(0)
		for attempt := range 10 {
			d := b.Delay(attempt)
			ceil := min(time.Second<<attempt, 30*time.Second)
			if d < ceil/2 || d >= ceil {
				t.Errorf("rand=%v attempt %d: delay %v outside [%v, %v)", r, attempt, d, ceil/2, ceil)
			}
			if ceil < prevCeil {
				t.Errorf("attempt %d: ceiling shrank", attempt)
			}
			prevCeil = ceil
		}
	}
}

func TestParseLogLine(t *testing.T) {
	cases := []struct {
		line  string
		level slog.Level
		msg   string
	}{
		{"[DEBUG] memberlist: Stream connection", slog.LevelDebug, "memberlist: Stream connection"},
		{"[WARN] serf: Shutdown without a Leave", slog.LevelWarn, "serf: Shutdown without a Leave"},
		{"[ERR] memberlist: Failed", slog.LevelError, "memberlist: Failed"},
		{"[INFO] serf: EventMemberJoin", slog.LevelInfo, "serf: EventMemberJoin"},
		{"no prefix here", slog.LevelInfo, "no prefix here"},
		{"", slog.LevelInfo, ""},
	}
	for _, tc := range cases {
		level, msg := parseLogLine(tc.line)
		if level != tc.level || msg != tc.msg {
			t.Errorf("parseLogLine(%q) = %v %q, want %v %q", tc.line, level, msg, tc.level, tc.msg)
		}
	}
}

func TestProfiles(t *testing.T) {
	lan, err := ProfileLAN.memberlistConfig()
	if err != nil {
		t.Fatal(err)
	}
	stock, err := ProfileStock.memberlistConfig()
	if err != nil {
		t.Fatal(err)
	}
	if lan.ProbeInterval >= stock.ProbeInterval || lan.SuspicionMult >= stock.SuspicionMult {
		t.Errorf("LAN profile is not faster than stock: %v/%d vs %v/%d",
			lan.ProbeInterval, lan.SuspicionMult, stock.ProbeInterval, stock.SuspicionMult)
	}
	// Lifeguard's protections must stay on.
	if lan.AwarenessMaxMultiplier < 2 || lan.IndirectChecks < 1 || lan.DisableTcpPings {
		t.Errorf("LAN profile weakens Lifeguard: %+v", lan)
	}
	// k = SuspicionMult-2 confirmations must stay >= 1 so a lone accuser
	// never takes the fast path.
	if lan.SuspicionMult-2 < 1 {
		t.Errorf("SuspicionMult %d needs no confirmation", lan.SuspicionMult)
	}
	if _, err := Profile(9).memberlistConfig(); err == nil {
		t.Error("unknown profile accepted")
	}
	if ProfileLAN.String() != "lan" || Profile(9).String() != "Profile(9)" {
		t.Error("profile names")
	}
}
