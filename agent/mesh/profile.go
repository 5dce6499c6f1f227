package mesh

import (
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// Profile selects the failure-detection timing of the gossip layer.
type Profile int

const (
	// ProfileLAN is the default: memberlist's LAN profile tuned so that in a
	// cluster of 3..9 agents a killed or cut-off agent is marked failed by
	// every other agent within about 2-3 s, without giving up memberlist's
	// Lifeguard protections against false failures.
	//
	// Values (stock DefaultLANConfig in brackets):
	//
	//	ProbeInterval           500ms [1s]
	//	ProbeTimeout            350ms [500ms]
	//	SuspicionMult           3     [4]
	//	SuspicionMaxTimeoutMult 6     [6]
	//	GossipInterval          100ms [200ms]
	//	IndirectChecks          3     [3]
	//	AwarenessMaxMultiplier  8     [8]  (Lifeguard stays on)
	//	RetransmitMult          6     [4]
	//	PushPullInterval        10s   [30s]
	//	GossipNodes, TCP pings: stock.
	//
	// Arithmetic, from memberlist v0.7 (util.go suspicionTimeout, state.go
	// suspectNode). n is memberlist's count of non-dead nodes, which still
	// includes the node under suspicion, so n is 3..9 here:
	//
	//	min = SuspicionMult * max(1, log10(n)) * ProbeInterval
	//	    = 3 * 1 * 500ms = 1.5s          (log10(n) < 1 for n <= 9)
	//	max = SuspicionMaxTimeoutMult * min = 6 * 1.5s = 9s
	//	k   = SuspicionMult - 2 = 1 confirmation, set to 0 only if n-2 < k,
	//	      which never happens for n >= 3.
	//
	// A suspicion timer starts at max and drops to min once k other nodes
	// independently suspect the same node. With k = 1 every cluster size from
	// 3 to 9 behaves the same way: two agents must agree before the fast 1.5 s
	// path applies, while a lone accuser (for example an agent that is itself
	// starved of CPU or cut off) needs the full 9 s, giving the accused time
	// to refute. Stock settings give k = 4-2 = 2, which on 3 nodes is reduced
	// to k = 0 (n-2 = 1 < 2): one agent alone declares a peer dead after
	// min = 4 * 1s = 4s, and the whole detection took 5.5-7.7 s in our
	// namespace tests.
	//
	// Expected detection of a killed node with ProfileLAN:
	//
	//	first probe of the dead node by some agent  ~0-500ms (n-1 agents
	//	    each probe one peer per ProbeInterval in shuffled order)
	//	probe fails: direct UDP gives up after ProbeTimeout, indirect pings
	//	    through up to IndirectChecks peers and a TCP ping run until the
	//	    ProbeInterval deadline                  +500ms
	//	a second agent confirms (it probes the node itself; usually within
	//	    one or two ProbeIntervals, in parallel with the timer)
	//	suspicion timer at min                     +1.5s
	//	"dead" gossip reaches the others            +~100-200ms
	//	total                                       ~2.0-2.4s, worst ~3s
	//
	// Why this does not add false failures: ProbeTimeout only decides when to
	// ask other agents for indirect pings; a direct ack arriving later but
	// before the ProbeInterval deadline still counts, and LAN round trips are
	// well under 200 ms. A live but slow node gets at least min = 1.5 s (9 s
	// without a confirming second agent) to refute; suspect messages are
	// piggybacked on every probe sent to it and gossiped every 100 ms, and the
	// refutation is gossiped back just as fast. Lifeguard's awareness score
	// stretches an agent's own probe interval and deadline up to
	// AwarenessMaxMultiplier * 500ms = 4 s when its probes fail because it
	// is itself slow (missing nacks from indirect peers), so an overloaded
	// agent backs off instead of accusing healthy peers. IndirectChecks stays
	// 3 so a single lossy path is never enough to suspect a node.
	//
	// GossipInterval 100ms halves the time suspect/dead/refute messages need
	// to spread; with GossipNodes 3 and n <= 9 a message reaches everyone in
	// about two rounds, at the cost of at most ~30 small UDP packets per second
	// per agent. It also sets serf's default query timeout:
	// GossipInterval * QueryTimeoutMult(16) * ceil(log10(n+1)) = 1.6s.
	//
	// RetransmitMult and PushPullInterval fix a measured problem: each agent
	// relays a gossip message RetransmitMult * ceil(log10(n+1)) times, which
	// is only 4 for n <= 9, so in a 9-agent cluster booting together one
	// agent in four runs missed another's join until the next push/pull 30 s
	// later (roughly (6/7)^24 per agent and message). 6 relays cut that to
	// about (6/7)^36, and a 10 s push/pull (a TCP exchange of a few hundred
	// bytes per agent, negligible at n <= 9) repairs any remaining miss fast.
	ProfileLAN Profile = iota

	// ProfileStock is serf's and memberlist's default LAN timing, kept for
	// comparison and as a fallback for unusually slow networks.
	ProfileStock
)

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

// memberlistConfig returns a fresh memberlist configuration for p.
func (p Profile) memberlistConfig() (*memberlist.Config, error) {
	c := memberlist.DefaultLANConfig()
	switch p {
	case ProfileStock:
	case ProfileLAN:
		c.ProbeInterval = 500 * time.Millisecond
		c.ProbeTimeout = 350 * time.Millisecond
		c.SuspicionMult = 3
		c.SuspicionMaxTimeoutMult = 6
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
