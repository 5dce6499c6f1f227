package agent

import (
	"math"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/metrics"
	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/goruntime"
	"github.com/kuma-agent/kuma-agent/supervisor"
)

// agentMetrics are the Prometheus series of /metrics.
type agentMetrics struct {
	reg           *metrics.Registry
	checkStatus   *metrics.GaugeVec
	statusChanges *metrics.CounterVec
	members       *metrics.GaugeVec
	memberEvents  *metrics.CounterVec
	health        *metrics.GaugeVec
	dropped       *metrics.CounterVec
	reasked       *metrics.CounterVec
	tagsStale     *metrics.GaugeVec
	refused       *metrics.CounterVec
	gaveUp        *metrics.GaugeVec
	exeReleased   *metrics.CounterVec
	cluster       clusterGauges
	checks        checkGauges
}

// eventMetrics are the event pipeline's series, one family per quantity
// (Prometheus conventions: a counter is a _total of one thing, a gauge one
// quantity with its unit in the name), registered at the first scrape of an
// agent with events so that an agent without them has none.
type eventMetrics struct {
	natsConnected, pending, degraded, memory, quarantined *metrics.GaugeVec
	published, failures, dropped                          *metrics.CounterVec
}

func registerEventMetrics(r *metrics.Registry) eventMetrics {
	return eventMetrics{
		natsConnected: r.Gauge("kuma_agent_nats_connected", "1 while the agent's NATS connection is up, else 0."),
		published:     r.Counter("kuma_agent_events_published_total", "Events published to JetStream and acknowledged since start."),
		failures:      r.Counter("kuma_agent_events_publish_failures_total", "Event publishes that failed since start (the event stays in the outbox and is sent again)."),
		pending:       r.Gauge("kuma_agent_outbox_pending_events", "Events in the outbox waiting for JetStream's acknowledgement."),
		dropped:       r.Counter("kuma_agent_outbox_dropped_events_total", "Events the outbox dropped since start: overflow (drop-oldest), corruption, memory buffer full, too large."),
		degraded:      r.Gauge("kuma_agent_outbox_degraded", "1 while the state directory fails and events are held in a bounded memory buffer, else 0."),
		memory:        r.Gauge("kuma_agent_outbox_memory_events", "Events held in the outbox's memory buffer (while degraded)."),
		quarantined:   r.Gauge("kuma_agent_outbox_quarantined_files", "Corrupt outbox segment files put aside in quarantine/."),
	}
}

// clusterGauges are the cluster evaluator's series: set only on the node
// that evaluates (the lease holder; every node without events).
type clusterGauges struct {
	evaluator, age, duration *metrics.GaugeVec
	status, margin, skew     *metrics.GaugeVec
	nodeStatus               *metrics.GaugeVec
	certs                    *metrics.GaugeVec
	etcd                     *metrics.GaugeVec
}

func newAgentMetrics(version string) *agentMetrics {
	r := metrics.NewRegistry()
	m := &agentMetrics{
		reg:           r,
		checkStatus:   r.Gauge("kuma_agent_check_status", "Latest status of each check: 0 ok, 1 warn, 2 crit, 3 unknown (Nagios codes).", "check"),
		statusChanges: r.Counter("kuma_agent_check_status_changes_total", "Check status transitions, by check and new status.", "check", "status"),
		members:       r.Gauge("kuma_agent_members", "Mesh members by status as this agent sees them.", "status"),
		memberEvents:  r.Counter("kuma_agent_member_events_total", "Member events received from the mesh, by type.", "type"),
		health:        r.Gauge("kuma_agent_gossip_health_score", "memberlist's awareness score: 0 is healthy, higher means this node is slow to answer probes.", "node"),
		dropped:       r.Counter("kuma_agent_mesh_dropped_total", "Mesh events and queries dropped since start because handlers were saturated.", "kind"),
	}
	m.reasked = r.Counter("kuma_agent_mesh_queries_reasked_total", "Cluster queries this agent asked again of the members still silent at half the query timeout (a lost answer, or a slow member), since start.")
	m.refused = r.Counter("kuma_agent_gossip_members_refused_total", "Gossip member announcements refused at merge since start (a name that is not a host name, or a name alive at another address; the log says which, once a minute).")
	m.tagsStale = r.Gauge("kuma_agent_gossip_tags_stale", "1 while this node's newest tags could not be encoded or sent: the other nodes see its last good ones (the log says why).")
	m.gaveUp = r.Gauge("kuma_agent_supervisor_unit_gave_up", "1 for a supervised unit whose healing gave up (attempts exhausted; `systemctl reset-failed` re-arms it), else 0 (supervision on only).", "unit")
	m.cluster = clusterGauges{
		evaluator:  r.Gauge("kuma_agent_cluster_evaluator", "1 while this node evaluates the cluster-wide checks (holds the cluster-checks lease, or evaluates for itself without events), else 0."),
		age:        r.Gauge("kuma_agent_cluster_evaluation_age_seconds", "Seconds since this evaluator's latest cluster evaluation (evaluator only)."),
		duration:   r.Gauge("kuma_agent_cluster_evaluation_duration_seconds", "How long the latest cluster evaluation took: the four cluster queries and the checks (evaluator only)."),
		status:     r.Gauge("kuma_agent_cluster_check_status", "Published (damped) status of each cluster-wide check: 0 ok, 1 warn, 2 crit, 3 unknown (Nagios codes; evaluator only).", "check"),
		margin:     r.Gauge("kuma_agent_cluster_quorum_margin", "Failures each consensus group (raft, etcd) can still take before losing quorum; negative: lost (evaluator only).", "group"),
		skew:       r.Gauge("kuma_agent_cluster_clock_skew_seconds", "Each node's clock minus the cluster median, as measured by the evaluator (evaluator only).", "node"),
		nodeStatus: r.Gauge("kuma_agent_cluster_check_node_status", "Published status of each cluster-wide check that is not ok, per node its finding is about (the outliers, the ends of failing edges, the members down): 1 warn, 2 crit, 3 unknown (evaluator only).", "check", "node"),
		certs:      r.Gauge("kuma_agent_cluster_certificate_expiry_seconds", "Seconds until each node's soonest certificate expires, negative once expired, from its doctor answer (evaluator only).", "node"),
		etcd:       r.Gauge("kuma_agent_cluster_etcd", "etcd as etcd reports itself (cluster-etcd): members, healthy, margin (quorum margin), db_percent (largest database in percent of its quota; -1 unknown) (evaluator only).", "value"),
	}
	m.exeReleased = r.Counter("kuma_agent_exe_pages_released_bytes_total", "Resident bytes of the agent's executable given back since start: clean read-only pages, which the page cache keeps and which come back on their next touch (agent.release_exe_pages_every).")
	r.GaugeFunc("kuma_agent_go_maxprocs", "Threads that may run the agent's Go code at once (GOMAXPROCS: agent.max_procs or the GOMAXPROCS environment variable).", func() float64 { return float64(runtime.GOMAXPROCS(0)) })
	r.GaugeFunc("kuma_agent_go_gc_percent", "How far the heap may grow past the live heap before the Go collector runs, in percent (GOGC: agent.gc_percent or the GOGC environment variable); -1: off.", func() float64 {
		if n, ok := goruntime.GCPercent(); ok {
			return float64(n)
		}
		return math.NaN()
	})
	r.Gauge("kuma_agent_build_info", "Always 1; the version label says which build runs.", "version").With(version).Set(1)
	return m
}

// collect refreshes the gauges from the agent's state at scrape time.
func (a *Agent) collectMetrics(*metrics.Registry) {
	m := a.metrics
	m.checkStatus.Reset()
	for _, o := range a.sched.Latest() {
		m.checkStatus.With(o.Check).Set(float64(o.Status.NagiosCode()))
	}
	if a.bus != nil {
		st, e := a.bus.stats(), registerEventMetrics(m.reg)
		e.natsConnected.With().Set(b2f(st.connected))
		e.published.With().SetTotal(float64(st.published))
		e.failures.With().SetTotal(float64(st.failures))
		e.pending.With().Set(float64(st.pending))
		e.dropped.With().SetTotal(float64(st.outbox.Dropped))
		e.degraded.With().Set(b2f(st.outbox.Err != nil))
		e.memory.With().Set(float64(st.outbox.MemoryEvents))
		e.quarantined.With().Set(float64(len(st.outbox.Quarantined)))
	}
	if a.sup != nil {
		setGaveUp(m.gaveUp, a.sup.Units())
	}
	if a.exe != nil {
		m.exeReleased.With().SetTotal(float64(a.exe.releasedBytes.Load()))
	}
	a.collectClusterMetrics()
	m.checks.collect(m.reg, a.plan.Checks)
	if a.mesh == nil {
		return
	}
	m.members.Reset()
	counts := map[string]int{"alive": 0, "failed": 0, "left": 0, "leaving": 0}
	for _, mem := range a.mesh.Members() {
		counts[mem.Status]++
	}
	for s, n := range counts {
		m.members.With(s).Set(float64(n))
	}
	st := a.mesh.Stats()
	m.health.With(a.node.Name).Set(float64(st.HealthScore))
	m.dropped.With("events").SetTotal(float64(st.EventsDropped))
	m.dropped.With("queries").SetTotal(float64(st.QueriesDropped))
	m.reasked.With().SetTotal(float64(st.QueriesReasked))
	m.refused.With().SetTotal(float64(st.MembersRefused))
}

func (a *Agent) httpHandler() http.Handler {
	a.metrics.reg.Collect(a.collectMetrics)
	mux := http.NewServeMux()
	mux.Handle("/metrics", a.metrics.reg.Handler())
	mux.Handle("/healthz", metrics.HealthHandler(func() (bool, string) {
		// A stuck loop first: the checks' results may be stale because of it.
		if stalled := a.stallReport(); stalled != "" {
			return false, stalled
		}
		w := a.sched.Worst()
		var crit []string
		for _, o := range a.sched.Latest() {
			if o.Status == checks.Crit {
				crit = append(crit, o.Check)
			}
		}
		if w == checks.Crit {
			return false, "critical: " + strconv.Itoa(len(crit)) + " check(s): " + strings.Join(crit, ", ") + "\n"
		}
		return true, w.String() + "\n"
	}))
	if a.cfg.Agent.StatusPage {
		a.handleStatusPage(mux)
	}
	return mux
}

// setNodeStatus sets, for each cluster finding that is not ok, its status
// on every node it is about: "findings by node" and the reachability grid of
// a dashboard, without parsing a message.
func setNodeStatus(g *metrics.GaugeVec, findings []clusterchecks.NamedResult) {
	for _, c := range findings {
		if c.Result.Status == checks.OK {
			continue
		}
		for _, n := range c.Nodes {
			g.With(c.Name, n).Set(float64(c.Result.Status.NagiosCode()))
		}
	}
}

// setGaveUp sets one series per supervised unit: 1 once its healing gave
// up, else 0; a unit no longer supervised vanishes.
func setGaveUp(g *metrics.GaugeVec, units []supervisor.UnitStatus) {
	g.Reset()
	for _, u := range units {
		g.With(u.Unit).Set(b2f(u.GaveUp))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// outboxHealth is the state check's view of the outbox (false: events are
// disabled). The scheduler that runs the check starts after the outbox.
func (a *Agent) outboxHealth() (checks.OutboxHealth, bool) {
	if a.bus == nil {
		return checks.OutboxHealth{}, false
	}
	return a.bus.ob.Health(), true
}

// collectClusterMetrics sets the evaluator's gauges from its latest
// evaluation; a node that does not evaluate has only the 0 of
// kuma_agent_cluster_evaluator (another node's numbers would be stale).
func (a *Agent) collectClusterMetrics() {
	g := a.metrics.cluster
	for _, v := range []*metrics.GaugeVec{g.age, g.duration, g.status, g.margin, g.skew, g.nodeStatus, g.certs, g.etcd} {
		v.Reset()
	}
	ev, evaluating := a.eval.snapshot()
	g.evaluator.With().Set(b2f(evaluating))
	if ev == nil || !evaluating {
		return
	}
	g.age.With().Set(time.Since(ev.at).Seconds())
	g.duration.With().Set(ev.report.DurationMS / 1000)
	for _, c := range ev.report.Cluster {
		g.status.With(c.Name).Set(float64(c.Result.Status.NagiosCode()))
	}
	setNodeStatus(g.nodeStatus, ev.report.Cluster)
	for _, c := range ev.raw {
		var to *metrics.GaugeVec
		switch c.Name {
		case clusterchecks.QuorumCheckName:
			to = g.margin
		case clusterchecks.ClockCheckName:
			to = g.skew
		case clusterchecks.CertsCheckName:
			to = g.certs
		case clusterchecks.EtcdCheckName:
			to = g.etcd
		default:
			continue
		}
		for k, v := range c.Values {
			to.With(k).Set(v)
		}
	}
}
