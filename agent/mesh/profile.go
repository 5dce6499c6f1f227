package mesh

import (
	"fmt"
	"math"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// Profile selects the failure-detection timing of the gossip layer.
type Profile int

const (
	// ProfileLAN is the default: memberlist's LAN profile tuned so that a
	// killed or cut-off agent is marked failed by every other agent within
	// about 2 s (median; 3 s at worst), at 5 agents and at 50, without giving
	// up memberlist's Lifeguard protections against false failures. Its
	// probe timing comes from lanTimings by the cluster's size (Config.Hosts,
	// the inventory's host count, known at start); everything else is fixed:
	//
	// Values (stock DefaultLANConfig in brackets):
	//
	//	ProbeInterval           lanTimings  [1s]
	//	ProbeTimeout            lanTimings  [500ms]
	//	GossipNodes             lanTimings  [3]
	//	SuspicionMult           3     [4]
	//	SuspicionMaxTimeoutMult 10    [6]
	//	GossipInterval          100ms [200ms]
	//	IndirectChecks          3     [3]
	//	AwarenessMaxMultiplier  8     [8]  (Lifeguard stays on)
	//	RetransmitMult          6     [4]
	//	PushPullInterval        10s   [30s]
	//	TCP pings: stock (on).
	//
	// Arithmetic, from memberlist v0.7 (util.go suspicionTimeout, state.go
	// suspectNode, suspicion.go). n is memberlist's count of non-dead nodes,
	// which still includes the node under suspicion:
	//
	//	min = SuspicionMult * max(1, log10(n)) * ProbeInterval
	//	max = SuspicionMaxTimeoutMult * min
	//	k   = SuspicionMult - 2 = 1 confirmation (0 only if n-2 < k: n < 3)
	//
	// A suspicion timer starts at max and drops to min once k other nodes
	// independently suspect the same node (their own probe failed). With
	// k = 1 two agents must agree before the fast path applies, while a lone
	// accuser (for example an agent that is itself starved of CPU or cut
	// off) needs the full max, about 9 s, giving the accused time to refute.
	// Stock settings give k = 4-2 = 2, reduced to 0 on 3 nodes (n-2 = 1 < 2):
	// one agent alone declares a peer dead after min = 4 * 1s = 4s.
	//
	// How it scales with size, against memberlist's own: memberlist keeps
	// ProbeInterval fixed and stretches min by log10(n), so that at 50 nodes
	// the suspected node gets 1.7 times longer to hear of the suspicion and
	// refute it (gossip needs about log(n) rounds to spread); with a fixed
	// 500ms interval our min grew from 1.5 s at 9 nodes to 2.55 s at 50, and
	// detection from 2.3 s to about 4 s (measured at 40). lanTimings instead
	// shortens ProbeInterval as the cluster grows, so that min stays about
	// 0.75-1.1 s at every size up to 128 (then memberlist's log10 takes over
	// again), and raises GossipNodes from 3 to 4 so the suspicion and the
	// refutation still spread in about three 100 ms gossip rounds:
	// 4^3 = 64 nodes, 5 rounds (0.5 s) for 128 with relays. The per-row min
	// for its smallest and largest size:
	//
	//	hosts    ProbeInterval  min at the row's ends      max (10 * min)
	//	1-9      300ms          0.9 s   (log10 < 1)        9 s
	//	10-24    250ms          0.75 s - 1.04 s            7.5-10 s
	//	25-64    200ms          0.84 s - 1.08 s            8.4-11 s
	//	65-      160ms          0.87 s - 1.01 s at 128     8.7-10 s
	//
	// Expected detection of a killed node:
	//
	//	first probe of the dead node by some agent  ~1 ProbeInterval on
	//	    average (each of the n-1 agents probes one peer per interval,
	//	    walking a shuffled list, so the dead node is probed about once
	//	    per interval by someone)
	//	probe fails: direct UDP gives up after ProbeTimeout, indirect pings
	//	    through IndirectChecks peers and a TCP ping run until the
	//	    ProbeInterval deadline                  +1 ProbeInterval
	//	a second agent confirms (its own probe fails; in parallel with the
	//	    timer, again about one interval)
	//	suspicion timer at min                     +0.75-1.1 s
	//	"dead" gossip reaches the others            +~100-300ms
	//	total                                       ~1.5-1.8 s, worst ~2.5 s
	//
	// Why this does not add false failures: ProbeTimeout only decides when to
	// ask other agents for indirect pings; a direct ack arriving later but
	// before the ProbeInterval deadline still counts, and LAN round trips are
	// well under 100 ms. A live but slow node gets at least min (about 1 s)
	// to refute once two agents accuse it, and about 9 s when only one does;
	// suspect messages are piggybacked on every probe sent to it and gossiped
	// every 100 ms, and the refutation is gossiped back just as fast.
	// Lifeguard's awareness score stretches an agent's own probe interval and
	// deadline up to AwarenessMaxMultiplier (8) times when its probes fail
	// because it is itself slow (missing nacks from indirect peers), so an
	// overloaded agent backs off instead of accusing healthy peers.
	// IndirectChecks stays 3 so a single lossy path is never enough to
	// suspect a node. The 10-minute soaks under a CPU burner at 5 and at 50
	// agents (README, Figures) are the evidence.
	//
	// Cost: each agent sends one probe (and gets one ack) per ProbeInterval,
	// 3.3 to 6.3 probes a second, a few hundred bytes with encryption; the
	// figures in README give the measured gossip bytes per second. Gossip
	// rounds send nothing when there is nothing to spread.
	//
	// GossipInterval 100ms spreads suspect/dead/refute messages twice as fast
	// as stock. It also sets serf's default query timeout:
	// GossipInterval * QueryTimeoutMult(16) * ceil(log10(n+1)) = 1.6 s up to
	// 9 nodes, 3.2 s up to 99.
	//
	// RetransmitMult and PushPullInterval fix a measured problem: each agent
	// relays a gossip message RetransmitMult * ceil(log10(n+1)) times, which
	// is only 4 for n <= 9, so in a 9-agent cluster booting together one
	// agent in four runs missed another's join until the next push/pull 30 s
	// later (roughly (6/7)^24 per agent and message). 6 relays cut that to
	// about (6/7)^36, and a 10 s push/pull (memberlist stretches it past 32
	// nodes: 20 s at 50, 30 s at 100) repairs any remaining miss fast.
	ProfileLAN Profile = iota

	// ProfileStock is serf's and memberlist's default LAN timing, kept for
	// comparison and as a fallback for unusually slow networks.
	ProfileStock
)

// lanTiming is one row of ProfileLAN's size table.
type lanTiming struct {
	maxHosts      int // the row applies to clusters of up to maxHosts hosts
	probeInterval time.Duration
	probeTimeout  time.Duration
	gossipNodes   int
}

// lanTimings is ProfileLAN's probe timing by cluster size, smallest first;
// the last row also serves every larger cluster. See ProfileLAN for the
// arithmetic: each row keeps the fast suspicion timeout (min) near 1 s.
var lanTimings = []lanTiming{
	{maxHosts: 9, probeInterval: 300 * time.Millisecond, probeTimeout: 200 * time.Millisecond, gossipNodes: 3},
	{maxHosts: 24, probeInterval: 250 * time.Millisecond, probeTimeout: 170 * time.Millisecond, gossipNodes: 3},
	{maxHosts: 64, probeInterval: 200 * time.Millisecond, probeTimeout: 140 * time.Millisecond, gossipNodes: 4},
	{maxHosts: 128, probeInterval: 160 * time.Millisecond, probeTimeout: 110 * time.Millisecond, gossipNodes: 4},
}

// lanTimingFor picks the row for a cluster of hosts hosts (0: unknown, the
// smallest row, which memberlist's own log10(n) scaling then stretches).
func lanTimingFor(hosts int) lanTiming {
	for _, r := range lanTimings {
		if hosts <= r.maxHosts {
			return r
		}
	}
	return lanTimings[len(lanTimings)-1]
}

// suspicionMin is memberlist's fast suspicion timeout (util.go
// suspicionTimeout) for n live nodes, for tests and the figures.
func suspicionMin(c *memberlist.Config, n int) time.Duration {
	scale := math.Max(1, math.Log10(math.Max(1, float64(n))))
	return time.Duration(float64(c.SuspicionMult) * scale * float64(c.ProbeInterval))
}

// profileNames maps profiles to their names for String and errors.
var profileNames = map[Profile]string{
	ProfileLAN:   "lan",
	ProfileStock: "stock",
}

// String returns the profile's short name.
func (p Profile) String() string {
	if name, ok := profileNames[p]; ok {
		return name
	}
	return fmt.Sprintf("Profile(%d)", int(p))
}

// memberlistConfig returns a fresh memberlist configuration for p in a
// cluster of hosts hosts (0: unknown).
func (p Profile) memberlistConfig(hosts int) (*memberlist.Config, error) {
	c := memberlist.DefaultLANConfig()
	switch p {
	case ProfileStock:
	case ProfileLAN:
		row := lanTimingFor(hosts)
		c.ProbeInterval = row.probeInterval
		c.ProbeTimeout = row.probeTimeout
		c.GossipNodes = row.gossipNodes
		c.SuspicionMult = 3
		c.SuspicionMaxTimeoutMult = 10
		c.GossipInterval = 100 * time.Millisecond
		c.IndirectChecks = 3
		c.AwarenessMaxMultiplier = 8
		c.RetransmitMult = 6
		c.PushPullInterval = 10 * time.Second
	default:
		return nil, fmt.Errorf("unknown profile %v", p)
	}
	return c, nil
}

// Retention of departed members, applied to every profile.
const (
	// reconnectTimeout keeps failed members listed (and serf retrying them
	// every reconnectInterval) for three days, so an agent that was down
	// over a long weekend is still known and reconnected to.
	reconnectTimeout  = 72 * time.Hour
	reconnectInterval = 30 * time.Second
	// tombstoneTimeout keeps members that left on purpose listed as "left"
	// for a day, so operators can still see that the leave happened.
	tombstoneTimeout = 24 * time.Hour
	// reapInterval is how often serf drops members past these timeouts.
	reapInterval = 15 * time.Second
)

// applyRetention sets the member-retention timings on a serf config.
func applyRetention(c *serf.Config) {
	c.ReconnectTimeout = reconnectTimeout
	c.ReconnectInterval = reconnectInterval
	c.TombstoneTimeout = tombstoneTimeout
	c.ReapInterval = reapInterval
}
