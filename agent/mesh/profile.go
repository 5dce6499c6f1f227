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
	// killed or cut-off agent is marked failed by every other agent in a
	// median of about 1.4-1.7 s at 50 agents (README, Figures), without
	// giving up memberlist's Lifeguard protections against false failures.
	// Its probe timing comes from lanTimings by the cluster's size
	// (Config.Hosts, the inventory's host count, known at start); everything
	// else is fixed:
	//
	// Values (stock DefaultLANConfig in brackets):
	//
	//	ProbeInterval           lanTimings (300ms)  [1s]
	//	ProbeTimeout            lanTimings (200ms)  [500ms]
	//	GossipNodes             lanTimings (3)      [3]
	//	SuspicionMult           3     [4]
	//	SuspicionMaxTimeoutMult 10    [6]
	//	GossipInterval          100ms [200ms]
	//	IndirectChecks          3     [3]
	//	AwarenessMaxMultiplier  8     [8]  (Lifeguard stays on)
	//	RetransmitMult          6     [4]
	//	PushPullInterval        10s   [30s]
	//	EnableCompression       false [true]
	//	TCP pings: stock (on).
	//	UnreachableSuspicionTimeout ProbeInterval [off; patch]
	//	SuspicionMinTimeout     5s    [off; patch]
	//	SuspicionLastPingTimeout 2s   [off; patch]
	//	LateNackWindow          ProbeTimeout [off; patch]
	//	MembershipFirst         true  [false; patch]
	//	GossipDeadAtOnce        true  [false; patch]
	//
	// Arithmetic, from memberlist v0.7 (util.go suspicionTimeout, state.go
	// suspectNode, suspicion.go). n is memberlist's count of non-dead nodes,
	// which still includes the node under suspicion:
	//
	//	min = SuspicionMult * max(1, log10(n)) * ProbeInterval
	//	max = SuspicionMaxTimeoutMult * min
	//	k   = SuspicionMult - 2 = 1 confirmation (0 only if n-2 < k: n < 3)
	//
	//	n      min                          max (lone accuser)
	//	3-9    3 * 1    * 300ms = 0.9 s      9 s
	//	20     3 * 1.30 * 300ms = 1.17 s     11.7 s
	//	50     3 * 1.70 * 300ms = 1.53 s     15.3 s
	//	100    3 * 2    * 300ms = 1.8 s      18 s
	//
	// A suspicion timer starts at max and drops to min once k other nodes
	// independently suspect the same node (their own probe failed). With
	// k = 1 two agents must agree before the fast path applies, while a lone
	// accuser (for example an agent that is itself starved of CPU or cut
	// off) needs the full max, 9 s or more, giving the accused time to
	// refute. Stock settings give k = 4-2 = 2, reduced to 0 on 3 nodes
	// (n-2 = 1 < 2): one agent alone declares a peer dead after
	// min = 4 * 1s = 4s.
	//
	// The unreachable fast path (our memberlist patch, third_party/README.md):
	// the prober whose probe failed asks its kernel for a fresh TCP handshake
	// with the node's gossip port (one ProbeInterval, timed by the kernel, so
	// a prober starved of CPU still gets the true answer). Refused (the
	// process is gone: kill -9, crash) or silent (host down, link cut) and
	// its suspicion uses UnreachableSuspicionTimeout, 300 ms, instead of min:
	// refused with no confirmation, silent still with k = 1 (which an agent
	// that is itself cut off cannot get). A live process, however starved,
	// completes the handshake in its kernel and gets the timing above. This
	// is what takes the log10(n) term out of detection for real failures
	// without probing faster. Every agent that hears the suspicion runs the
	// same check itself and, when it agrees, shortens its own timer and
	// gossips its confirmation, so a silent node's k = 1 is met within about
	// one ProbeInterval instead of at some other agent's next scheduled
	// probe of it. A suspect or dead message naming an older incarnation
	// (the node changed its tags just before it failed) is checked the
	// same way; a dead one, when the check agrees, is applied at once at
	// the incarnation known here.
	//
	// How it scales with size, against memberlist's own: memberlist keeps
	// ProbeInterval fixed and stretches min by log10(n), so that in a larger
	// cluster the suspected node has longer to hear of the suspicion and
	// refute it (gossip needs about log(n) rounds to spread). lanTimings is
	// where a size gets its own probe timing; today it has one row, so the
	// scaling is memberlist's log10(n) on a 300 ms probe, and the unreachable
	// fast path above is what keeps real failures fast at 50 and beyond.
	// Rows that cancelled log10 with faster probes were measured and
	// rejected: 200 ms from 25 hosts, and 250 ms at 50 (11-28), each drove
	// 50 agents sharing the lab's 2 cores into a storm of false failures
	// (the same lab stays stable with 300 ms).
	//
	// Expected detection of a killed or cut-off node:
	//
	//	first probe of the dead node by some agent  ~1 ProbeInterval on
	//	    average, at 5 as at 50 (each of the n-1 agents probes one peer
	//	    per interval, walking a shuffled list: the node is probed about
	//	    once per interval); the wait is exponential, so over 20 trials
	//	    one often waits 1-1.5 s: the tail of the figures
	//	probe fails: direct UDP gives up after ProbeTimeout, indirect pings
	//	    through IndirectChecks peers and a TCP ping run until the
	//	    ProbeInterval deadline                  +1 ProbeInterval
	//	the prober's kernel check: refused at once (killed), silent after
	//	    one ProbeInterval (cut off)             +0 / +300 ms
	//	the short timer (300 ms); for silence the other agents' own checks
	//	    confirm meanwhile
	//	"dead" gossip reaches the others            +~100-300 ms
	//	total                                       ~1.0-1.6 s, at 5 as at 50
	//
	// A killed or cut-off node is declared dead after about 0.9 s of silence
	// from its first failed probe (probe, kernel check, short timer); a VM
	// paused for less (a live migration's stun) is not.
	//
	// A live node, however slow, takes upstream's path, with a floor
	// (SuspicionMinTimeout, our patch) of 5 s at any size:
	//
	//	suspicion timer at max(min, 5 s)           5 s (5, 50 and 100)
	//
	// Why the floor: the log10(n) min (0.9 s at 5, 1.53 s at 50) is what a
	// live node has to refute once two agents accuse it, and a live agent
	// that is starved of CPU for longer is declared dead although its
	// process and host are fine. At 50 agents on the lab's 2 cores with a
	// CPU burner, the cluster evaluator's ~120 ms of work per interval took
	// 3-4 s of wall time at its share of the CPU, and the evaluator was
	// marked failed about once a minute (11-28: 204 non-alive transitions in
	// a 10-minute soak). Real failures do not wait for it: a killed process
	// (refused) or a cut-off host (silent) takes the unreachable path above,
	// so detection of kill -9 and cut-off is unchanged; what takes 5 s now
	// is an agent that is alive but does not answer (hung, stopped), as
	// with Consul's stock LAN timing (4 s at 5 nodes, 6.8 s at 50).
	//
	// And a last ping (SuspicionLastPingTimeout, our patch): when such a
	// timer runs out (no probe or check found the node unreachable), the
	// agent asks the node for one ping over TCP, waiting up to 2 s, before
	// declaring it dead; a node that answers stays alive here. The floor
	// covers a starved suspect; the last ping covers a starved accuser,
	// which had not read the suspect's refutation when its own timer ran out
	// (11-28, the 10-minute soak at 50: one collector declared another dead
	// 4.7 s after that one had refuted). A hung agent is declared dead up to
	// 2 s later (7 s); a killed or cut-off one takes the unreachable path
	// and no last ping.
	//
	// Why this does not add false failures: ProbeTimeout only decides when to
	// ask other agents for indirect pings; a direct ack arriving later but
	// before the ProbeInterval deadline still counts, and LAN round trips are
	// well under 100 ms. A live but slow node gets at least 5 s (the floor)
	// to refute once two agents accuse it, 9 s and up when only one does;
	// suspect messages are piggybacked on every probe sent to it and gossiped
	// every 100 ms, and the refutation is gossiped back just as fast.
	// Lifeguard's awareness score stretches an agent's own probe interval and
	// deadline up to AwarenessMaxMultiplier (8) times when its probes fail
	// because it is itself slow (missing nacks from indirect peers), so an
	// overloaded agent backs off instead of accusing healthy peers. Those
	// nacks come about 2 * ProbeTimeout (400 ms) into a 300 ms probe, so
	// LateNackWindow (our patch) keeps counting them for ProbeTimeout after
	// the deadline: upstream never saw one, and every healthy agent that
	// probed a dead node probed four times slower afterwards.
	// The news of a suspicion or a death is handled ahead of the serf
	// payloads queued with it (MembershipFirst, our patch; upstream does it
	// for alive messages only): the cluster evaluator receives a burst of
	// query answers every interval, and with upstream's order it was, in
	// 50-agent trials, the one agent still listing a dead node as alive a
	// second or more after the others. And a node that learns of a death
	// gossips it at once instead of at its next tick (GossipDeadAtOnce,
	// our patch): on a busy host each hop of a verdict otherwise waited
	// for the ticker's goroutine to be scheduled too. Suspicions and
	// refutations keep the ticker: sent at once too, the 50-agent lab's
	// load went from 44-53 to 124 (third_party/README.md).
	// IndirectChecks stays 3 so a single lossy path is never enough to
	// suspect a node. The 10-minute soaks under a CPU burner at 5 and at 50
	// agents (README, Figures) are the evidence.
	//
	// Cost: each agent sends one probe (and gets one ack) per ProbeInterval,
	// about 3 a second, a few hundred bytes with encryption; README's figures
	// give the measured gossip bytes per second. Gossip rounds send nothing
	// when there is nothing to spread.
	//
	// GossipInterval 100ms spreads suspect/dead/refute messages twice as fast
	// as stock. It also sets serf's default query timeout:
	// GossipInterval * QueryTimeoutMult(16) * ceil(log10(n+1)) = 1.6 s up to
	// 9 nodes, 3.2 s up to 99.
	//
	// EnableCompression false: memberlist compresses every packet it sends
	// (each probe, ack and gossip packet, and every push/pull) with a fresh
	// LZW writer, which allocates a 64 KiB table each time. At 50 agents on
	// one 2-core machine that allocation and the garbage collection after it
	// were the largest CPU cost of the agents (perf: compressPayload, mallocgc
	// and the GC workers), enough to starve them into missing their own
	// probe deadlines: false failures fed more gossip, a storm that never
	// converged. Packets stay under memberlist's 1400-byte UDP budget either
	// way; the LAN carries the few extra bytes. Agents with compression on
	// still read ours and we theirs (receiving does not depend on the flag).
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

// liveSuspicionFloor is the least time a suspected agent whose kernel
// still answers gets to refute (memberlist SuspicionMinTimeout; ProfileLAN
// says why).
const liveSuspicionFloor = 5 * time.Second

// lastPingTimeout is how long an agent waits for a live-looking suspect's
// last ping before declaring it dead (memberlist SuspicionLastPingTimeout;
// ProfileLAN says why). Generous: the agent asking may itself be starved.
const lastPingTimeout = 2 * time.Second

// lanTiming is one row of ProfileLAN's size table.
type lanTiming struct {
	maxHosts      int // the row applies to clusters of up to maxHosts hosts
	probeInterval time.Duration
	probeTimeout  time.Duration
	gossipNodes   int
}

// lanTimings is ProfileLAN's probe timing by cluster size, smallest first;
// the last row also serves every larger cluster. One row today: see
// ProfileLAN for the faster row that was measured and rejected.
var lanTimings = []lanTiming{
	{maxHosts: 128, probeInterval: 300 * time.Millisecond, probeTimeout: 200 * time.Millisecond, gossipNodes: 3},
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

// suspicionMin is the fast suspicion timeout of a live node for n live
// nodes, for tests: memberlist's (util.go
// suspicionTimeout), and with our patch at least SuspicionMinTimeout.
func suspicionMin(c *memberlist.Config, n int) time.Duration {
	return max(upstreamSuspicionMin(c, n), c.SuspicionMinTimeout)
}

// upstreamSuspicionMin is memberlist's own: SuspicionMult * log10(n) *
// ProbeInterval, n at least 10.
func upstreamSuspicionMin(c *memberlist.Config, n int) time.Duration {
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
		c.EnableCompression = false
		c.UnreachableSuspicionTimeout = row.probeInterval
		c.LateNackWindow = row.probeTimeout
		c.MembershipFirst = true
		c.GossipDeadAtOnce = true
		c.SuspicionMinTimeout = liveSuspicionFloor
		c.SuspicionLastPingTimeout = lastPingTimeout
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

// AnswerSpread is how long an agent may wait, at random, before it works
// out and sends its answer to a spread query (HandleQuerySpread) in a
// cluster of hosts hosts: nothing up to 9 hosts, 10 ms per host above
// that, at most a quarter of QueryTimeout (500 ms at 50 hosts, 800 ms
// from 80 to 99, 1 s at 100). Why: the cluster evaluator asks every member at once every check
// interval, and without a spread all of them probe their peer ports,
// encode their findings and send at the same instant, and the asker
// receives every answer in the same instant. At 50 agents sharing 2 cores
// with a CPU burner that synchronized burst was what starved agents into
// missing probe deadlines: a 3-minute soak saw 36 false failures with the
// evaluation every 30 s and none with it off (11-28, README, Figures). A
// quarter of the timeout leaves the asker's re-ask of the silent members
// at half the timeout (QueryUntil) for answers that were lost, not late.
func (p Profile) AnswerSpread(hosts int) time.Duration {
	const perHost = 10 * time.Millisecond
	if hosts <= 9 {
		return 0
	}
	return min(time.Duration(hosts)*perHost, p.QueryTimeout(hosts)/4)
}

// QueryTimeout is the least a cluster-wide query should wait in a cluster
// of hosts hosts (0: unknown, counted as 1): serf's own default query
// timeout for p's gossip interval, GossipInterval * QueryTimeoutMult *
// ceil(log10(n+1)): 1.6 s up to 9 hosts and 3.2 s up to 99 with ProfileLAN.
// A query reaches the members by gossip and its answers may be relayed, so
// a shorter wait loses the answers of the far end of a large mesh (measured:
// with 1 s, 11 of 20 `doctor --cluster` runs at 50 agents missed 3-14
// nodes). The agent waits max(mesh.query_timeout, this); the wait ends as
// soon as every alive member answered, so it costs only when one is silent.
func (p Profile) QueryTimeout(hosts int) time.Duration {
	c, err := p.memberlistConfig(hosts)
	if err != nil {
		c = memberlist.DefaultLANConfig()
	}
	n := max(hosts, 1)
	mult := serf.DefaultConfig().QueryTimeoutMult
	return time.Duration(mult) * c.GossipInterval * time.Duration(math.Ceil(math.Log10(float64(n+1))))
}
