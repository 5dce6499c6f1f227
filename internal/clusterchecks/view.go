package clusterchecks

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/etcd"
)

// Serf member statuses as the mesh reports them.
const (
	StatusAlive   = "alive"
	StatusLeaving = "leaving"
	StatusLeft    = "left"
	StatusFailed  = "failed"
)

// Member is one agent of the gossip mesh as the local agent sees it.
type Member struct {
	Name   string
	Addr   string
	Status string // alive, leaving, left or failed
	Tags   Tags
	// Since is when the member entered Status, if known (zero otherwise).
	Since time.Time
}

// Tags is what every agent gossips about itself (see EncodeTags).
type Tags struct {
	Roles         cluster.Roles
	Version       string
	Health        Health
	MachineIDHash string // MachineIDHash of /etc/machine-id; "" = unknown
	Generation    uint64 // bumped by the agent on every tag change
	// Units is "ok" when this node's quorum-group units (Raft Core, k0s
	// controller) all run, "down" when one does not, "" when it has none
	// or does not say. The supervisor's quorum guard counts it.
	Units string
	// Raft is the local Core's Raft state: leader, follower, out or "".
	Raft string
	// Etcd is this controller's etcd summary (its etcd check's survey);
	// nil when it says none (not a controller, an older agent).
	Etcd *etcd.Summary
	// Life is random per agent process (LifeLen lowercase hex digits),
	// so that one node's lives tell apart: its member events' ids hash it
	// with memberlist's incarnation number, which starts again from 1
	// once the cluster has forgotten the node. "" = not said.
	Life string
}

// Health summarises the agent's own node checks.
type Health struct {
	Worst checks.Status
	// Failing names the checks at warn or crit, sorted.
	Failing []string
	// Omitted counts failing checks left out of Failing to fit the tag
	// budget (encoded as a "+N" suffix).
	Omitted int
}

// TimeSample is one node's clock as measured from the local node.
type TimeSample struct {
	Node string
	// Offset is remote clock minus local clock, corrected for half the RTT
	// (see ClockOffset).
	Offset time.Duration
	RTT    time.Duration
	// Bound is what the measurement can prove: the remote clock was read
	// somewhere between the query leaving and its answer arriving, so the
	// true offset is within Offset ± Bound (half the query's own round
	// trip). RTT may come from the mesh's coordinates and is tighter but
	// not a bound: an answer held up on a busy node breaks the midpoint
	// assumption. A skew is judged only by what exceeds Bound. 0: exact.
	Bound time.Duration
}

// HostsView is one node's /etc/hosts mapping of each inventory name; an
// empty slice (or a missing name) means the name is not listed there.
type HostsView map[string][]netip.Addr

// Edge is one failing (from, to, port) probe of the reachability matrix.
type Edge struct {
	From   string       `json:"from"`
	To     string       `json:"to"`
	Port   cluster.Port `json:"port"`
	Reason string       `json:"reason,omitempty"`
	// Refused: the path is open (the destination's kernel refused) but its
	// required service does not listen; otherwise the path is blocked.
	Refused bool `json:"refused,omitempty"`
}

// View is everything the cluster-wide checks judge.
type View struct {
	Inventory *cluster.Cluster // may be nil
	Self      string
	Members   []Member
	// Times holds one sample per node that answered, Self included with
	// Offset 0.
	Times []TimeSample
	// Hosts maps a node that answered to its /etc/hosts mapping.
	Hosts map[string]HostsView
	// Reach maps a node that answered to the failing edges it observed (an
	// empty slice: none failing; absent: the node did not answer).
	Reach map[string][]Edge
	// Cores maps a node that answered to its KUMA Core units' facts.
	Cores map[string][]CoreFacts
	// Certs maps a node that answered to its soonest certificates.
	Certs map[string][]checks.CertFact
	// CertWarn and CertCrit: a certificate expiring sooner (zero: the certs
	// check's defaults); Now is the evaluator's clock (zero: time.Now).
	CertWarn, CertCrit time.Duration
	Now                time.Time
	// SkewWarn and SkewCrit bound clock skew from the cluster median; zero
	// means DefaultSkewWarn / DefaultSkewCrit.
	SkewWarn, SkewCrit time.Duration
	// EtcdDBWarn and EtcdDBCrit are the etcd database thresholds in percent
	// of its quota; zero means DefaultEtcdDBWarn / DefaultEtcdDBCrit.
	EtcdDBWarn, EtcdDBCrit float64
}

// NamedResult is the result of one cluster-wide check.
type NamedResult struct {
	Name   string        `json:"name"`
	Result checks.Result `json:"result"`
	// Nodes are the nodes the finding is about (the outliers, duplicates,
	// disagreeing or unhealthy nodes), sorted; empty when it is about none.
	// Events carry them, so a subscriber need not parse the message.
	Nodes []string `json:"nodes,omitempty"`
	// Values are the numbers behind the finding, keyed by what they
	// measure: cluster-clock has each node's skew from the median in
	// seconds (by node), cluster-quorum each group's margin (by group:
	// raft, etcd), cluster-majority "alive" and "nodes",
	// cluster-reachability the failing edges each node that answered saw
	// from its side (by node; 0: none, absent: no answer). Metrics read
	// them; nobody parses a message.
	Values map[string]float64 `json:"values,omitempty"`
	// Edges are cluster-reachability's failing edges (sorted, one per
	// from, to and port), so the status page draws the matrix without
	// parsing details.
	Edges []Edge `json:"edges,omitempty"`
}

// The checks whose Values feed metrics.
const (
	ClockCheckName  = "cluster-clock"  // Values: node -> skew from the median, seconds
	QuorumCheckName = "cluster-quorum" // Values: group -> quorum margin
)

// finding is what a check of the table returns: its result and the
// structured parts of NamedResult.
type finding struct {
	checks.Result
	nodes  []string
	values map[string]float64
	edges  []Edge
}

// findingOf runs a check that fills in its finding's nodes and values as it
// judges (the exported XCheck functions run the same with a throwaway one).
func findingOf(check func(View, *finding) checks.Result) func(View) finding {
	return func(v View) finding {
		var f finding
		f.Result = check(v, &f)
		return f
	}
}

// sortedSet sorts and deduplicates names (nil stays nil).
func sortedSet(names []string) []string {
	if len(names) == 0 {
		return nil
	}
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Compact(out)
}

// Area is the doctor area of every check in this package.
const Area = checks.AreaCluster

// All runs every cluster-wide check on v, in a stable order. Only the
// members check sees every member (it reports the ones the inventory does
// not vouch for); the others judge the Believed view.
func All(v View) []NamedResult {
	bv, _ := Believed(v)
	out := make([]NamedResult, 0, len(allChecks))
	for _, c := range allChecks {
		in := bv
		if c.name == "cluster-members" {
			in = v
		}
		f := c.run(in)
		out = append(out, NamedResult{Name: c.name, Result: f.Result, Nodes: sortedSet(f.nodes), Values: f.values, Edges: f.edges})
	}
	return out
}

// allChecks is the table All runs; the names are stable (they key
// --only/--skip, metrics and events).
var allChecks = []struct {
	name string
	run  func(View) finding
}{
	{"cluster-members", findingOf(members)},
	{MajorityCheckName, findingOf(majority)},
	{"cluster-machine-id", findingOf(machineID)},
	{ClockCheckName, findingOf(clock)},
	{"cluster-hosts", findingOf(hosts)},
	{"cluster-reachability", findingOf(reach)},
	{QuorumCheckName, findingOf(quorum)},
	{"cluster-raft", func(v View) finding { return finding{Result: RaftCheck(v)} }},
	{EtcdCheckName, findingOf(etcdCluster)},
	{CertsCheckName, findingOf(certs)},
}

// expectedNodes lists the nodes that should answer a query: every member
// that has not left plus every inventory host, sorted and deduplicated.
func expectedNodes(v View) []string {
	var out []string
	for _, m := range v.Members {
		if m.Status != StatusLeft {
			out = append(out, m.Name)
		}
	}
	if v.Inventory != nil {
		for _, h := range v.Inventory.Hosts {
			out = append(out, h.Name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// silentDetails lists the expected nodes for which answered is false, with
// their member status so "failed" explains the silence.
func silentDetails(v View, what string, answered func(string) bool) []string {
	status := make(map[string]string, len(v.Members))
	for _, m := range v.Members {
		status[m.Name] = m.Status
	}
	var out []string
	for _, n := range expectedNodes(v) {
		if answered(n) {
			continue
		}
		st, ok := status[n]
		if !ok {
			st = "not in the mesh"
		}
		out = append(out, n+": unknown (did not answer the "+what+" query; "+st+")")
	}
	return out
}

// plural is "1 node" or "3 nodes".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// maxListed caps the node names in a one-line message; details list all.
const maxListed = 8

// nameList joins names for a message, capped at maxListed.
func nameList(names []string) string {
	if len(names) <= maxListed {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:maxListed], ", ") + ", +" + strconv.Itoa(len(names)-maxListed) + " more"
}
