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
	stock, err := ProfileStock.memberlistConfig(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, hosts := range []int{0, 1, 3, 5, 9, 10, 24, 25, 50, 64, 65, 100, 128, 500} {
		lan, err := ProfileLAN.memberlistConfig(hosts)
		if err != nil {
			t.Fatal(err)
		}
		if lan.ProbeInterval >= stock.ProbeInterval || lan.SuspicionMult >= stock.SuspicionMult {
			t.Errorf("hosts=%d: LAN profile is not faster than stock: %v/%d vs %v/%d",
				hosts, lan.ProbeInterval, lan.SuspicionMult, stock.ProbeInterval, stock.SuspicionMult)
		}
		// Lifeguard's protections must stay on.
		if lan.AwarenessMaxMultiplier < 2 || lan.IndirectChecks < 3 || lan.DisableTcpPings {
			t.Errorf("hosts=%d: LAN profile weakens Lifeguard: %+v", hosts, lan)
		}
		// k = SuspicionMult-2 confirmations must stay >= 1 so a lone
		// accuser never takes the fast path.
		if lan.SuspicionMult-2 < 1 {
			t.Errorf("hosts=%d: SuspicionMult %d needs no confirmation", hosts, lan.SuspicionMult)
		}
		// A direct ack must have time left for the indirect probes.
		if lan.ProbeTimeout >= lan.ProbeInterval || lan.ProbeTimeout < lan.ProbeInterval/2 {
			t.Errorf("hosts=%d: ProbeTimeout %v against ProbeInterval %v", hosts, lan.ProbeTimeout, lan.ProbeInterval)
		}
	}
	if _, err := Profile(9).memberlistConfig(5); err == nil {
		t.Error("unknown profile accepted")
	}
	if ProfileLAN.String() != "lan" || Profile(9).String() != "Profile(9)" {
		t.Error("profile names")
	}
}

// TestLANTimingsBySize holds the size table to the arithmetic in the
// ProfileLAN comment: rows in order, every size up to the last row's gets a
// fast suspicion timeout (min) no slower than memberlist's stock 4 s and a
// lone accuser at least 9 s, and the sizes the figures use get the values
// the comment's table quotes.
func TestLANTimingsBySize(t *testing.T) {
	for i, r := range lanTimings {
		if r.probeTimeout >= r.probeInterval || r.gossipNodes < 3 {
			t.Errorf("row %d (%+v): probe timeout not under the interval, or fewer than 3 gossip nodes", i, r)
		}
		if i > 0 && r.maxHosts <= lanTimings[i-1].maxHosts {
			t.Errorf("row %d (%+v) out of order after %+v", i, r, lanTimings[i-1])
		}
	}
	last := lanTimings[len(lanTimings)-1].maxHosts
	for hosts := 1; hosts <= last; hosts++ {
		c, err := ProfileLAN.memberlistConfig(hosts)
		if err != nil {
			t.Fatal(err)
		}
		if got := lanTimingFor(hosts); hosts > got.maxHosts || c.ProbeInterval != got.probeInterval {
			t.Fatalf("hosts=%d got row %+v, config %v", hosts, got, c.ProbeInterval)
		}
		// A live node gets the floor at every size; a lone accuser waits
		// memberlist's max, which is over it.
		min := suspicionMin(c, hosts)
		max := max(time.Duration(c.SuspicionMaxTimeoutMult)*upstreamSuspicionMin(c, hosts), min)
		if c.SuspicionLastPingTimeout != lastPingTimeout || lastPingTimeout >= liveSuspicionFloor {
			t.Errorf("hosts=%d: last ping %v, want %v (under the floor %v)", hosts, c.SuspicionLastPingTimeout, lastPingTimeout, liveSuspicionFloor)
		}
		// An indirect peer's nack comes about 2 * ProbeTimeout after the
		// probe started; it must count for the prober's health (latenack.go)
		// with room for a slow peer.
		if nackAt := 2*c.ProbeTimeout + 50*time.Millisecond; c.ProbeInterval+c.LateNackWindow < nackAt {
			t.Errorf("hosts=%d: nacks due at %v, counted only until %v (probe %v + late-nack window %v)",
				hosts, nackAt, c.ProbeInterval+c.LateNackWindow, c.ProbeInterval, c.LateNackWindow)
		}
		if !c.MembershipFirst {
			t.Errorf("hosts=%d: suspect and dead messages queue behind serf's payloads (MembershipFirst off)", hosts)
		}
		if !c.GossipDeadAtOnce {
			t.Errorf("hosts=%d: news of a death waits for the next gossip tick (GossipDeadAtOnce off)", hosts)
		}
		if min != liveSuspicionFloor || max < 9*time.Second {
			t.Errorf("hosts=%d: suspicion min %v max %v (ProbeInterval %v)", hosts, min, max, c.ProbeInterval)
		}
	}
	for _, tc := range []struct {
		hosts    int
		interval time.Duration
		min      time.Duration
	}{
		{0, 300 * time.Millisecond, 900 * time.Millisecond},
		{5, 300 * time.Millisecond, 900 * time.Millisecond},
		{20, 300 * time.Millisecond, 1170 * time.Millisecond},
		{50, 300 * time.Millisecond, 1529 * time.Millisecond},
		{100, 300 * time.Millisecond, 1800 * time.Millisecond},
		{1000, 300 * time.Millisecond, 2700 * time.Millisecond}, // past the table: the last row
	} {
		c, err := ProfileLAN.memberlistConfig(tc.hosts)
		if err != nil {
			t.Fatal(err)
		}
		if got := upstreamSuspicionMin(c, tc.hosts).Truncate(time.Millisecond); c.ProbeInterval != tc.interval || got != tc.min {
			t.Errorf("hosts=%d: interval %v min %v, want %v %v", tc.hosts, c.ProbeInterval, got, tc.interval, tc.min)
		}
	}
}

// TestQueryTimeoutGrowsWithTheMesh: a cluster-wide query waits at least
// serf's own query timeout for the cluster's size (50 agents lost answers
// with a flat 1 s).
func TestQueryTimeoutGrowsWithTheMesh(t *testing.T) {
	for _, tc := range []struct {
		p     Profile
		hosts int
		want  time.Duration
	}{
		{ProfileLAN, 0, 1600 * time.Millisecond},
		{ProfileLAN, 5, 1600 * time.Millisecond},
		{ProfileLAN, 9, 1600 * time.Millisecond},
		{ProfileLAN, 10, 3200 * time.Millisecond},
		{ProfileLAN, 50, 3200 * time.Millisecond},
		{ProfileLAN, 100, 4800 * time.Millisecond},
		{ProfileStock, 5, 3200 * time.Millisecond},
	} {
		if got := tc.p.QueryTimeout(tc.hosts); got != tc.want {
			t.Errorf("%v.QueryTimeout(%d) = %v, want %v", tc.p, tc.hosts, got, tc.want)
		}
	}
}

// TestAnswerSpreadBySize: small clusters answer at once; from 10 hosts the
// answers spread over 10 ms per host, never over a quarter of the query
// timeout (so a lost answer is still asked again in time).
func TestAnswerSpreadBySize(t *testing.T) {
	for _, tc := range []struct {
		hosts int
		want  time.Duration
	}{
		{0, 0}, {5, 0}, {9, 0},
		{10, 100 * time.Millisecond},
		{50, 500 * time.Millisecond},
		{99, 800 * time.Millisecond},    // QueryTimeout 3.2 s / 4
		{100, 1000 * time.Millisecond},  // QueryTimeout 4.8 s / 4 is more
		{1000, 1600 * time.Millisecond}, // QueryTimeout 6.4 s / 4
	} {
		got := ProfileLAN.AnswerSpread(tc.hosts)
		if got != tc.want {
			t.Errorf("AnswerSpread(%d) = %v, want %v", tc.hosts, got, tc.want)
		}
		if qt := ProfileLAN.QueryTimeout(tc.hosts); got > qt/4 {
			t.Errorf("AnswerSpread(%d) = %v, over a quarter of the query timeout %v", tc.hosts, got, qt)
		}
	}
}
