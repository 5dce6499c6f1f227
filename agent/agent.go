// Package agent is the long-running daemon, `kuma-agent run`: it runs the
// node checks continuously, holds this node's place in the serf mesh,
// answers the other agents' cluster queries, and serves the CLI over a
// root-only control socket and Prometheus over a loopback HTTP listener.
//
// Lifecycle (internal/component; the order is in components.go):
//
//	New ──> Run ──(every component started, in order)──> READY ──(ctx done)──> STOPPING ──(reverse order)──> stopped
//	 │        └── a component fails to start: the ones started are stopped in reverse, Run returns the error
//	 └── error: bad config/inventory/node; nothing was started (the --dev state dir is removed)
//
// While running, the watchdog pings systemd only while every loop's
// heartbeat is fresh (sdnotify.go).
//
// Stopping never leaves the mesh: a restart is not a leave, and the serf
// snapshot lets the node rejoin. `kuma-agent leave` is the explicit way out.
package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/mesh"
	"github.com/kuma-agent/kuma-agent/agent/schedule"
	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/component"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/etcd"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/exepages"
	"github.com/kuma-agent/kuma-agent/internal/plan"
	"github.com/kuma-agent/kuma-agent/supervisor"
)

// Options are what `kuma-agent run` passes in.
type Options struct {
	Config config.Config
	// Dev runs a single node with no encryption requirement and state in a
	// temporary directory (like `consul agent -dev`).
	Dev       bool
	Version   string
	Logger    *slog.Logger
	Commander checks.Commander
	// ClockOffset shifts this agent's answers to time queries. It exists
	// for tests that must show a skewed clock being reported (network
	// namespaces share the real clock); set from KUMA_AGENT_TEST_CLOCK_OFFSET.
	ClockOffset time.Duration
	// NodeDeleter deletes a Kubernetes Node (the Kubernetes reader): on
	// Acura the dead-member cleanup's API method deletes the removed
	// controller's Node with it. nil: the layout's admin kubeconfig
	// (kubernetes.kubeconfig) is used.
	NodeDeleter supervisor.NodeDeleter

	// outboxMemory bounds the events held in memory while the state
	// directory fails (0: outbox.DefaultMemoryBytes); for tests.
	outboxMemory int64
	// exePages replaces the release of the executable's pages and
	// exePagesFirst its first delay (exepages.go); for tests.
	exePages      func() (exepages.Result, error)
	exePagesFirst time.Duration
}

// Agent is one running kuma-agent.
type Agent struct {
	opts    Options
	cfg     config.Config
	log     *slog.Logger
	cluster *cluster.Cluster
	invErr  error
	node    plan.Node
	plan    plan.Plan
	reach   *checks.Reach // this node's peer probes, for reach queries
	// certs is the certs check, whose soonest certificates the doctor
	// answer carries for cluster-certs (nil when disabled).
	certs *checks.Certs

	sched   *schedule.Scheduler
	mesh    *mesh.Mesh
	bus     *eventBus              // nil when events are disabled
	sup     *supervisor.Supervisor // nil when supervision is off
	locker  *leaseLocker           // the supervisor's lease; nil without events
	systemd *supervisor.Systemd    // the supervisor's backend on systemd; nil otherwise
	ops     raftOps                // the Raft recoveries' requests (raftops.go)
	supBeat *component.Heartbeat   // the supervisor's heartbeat; nil when off
	metrics *agentMetrics
	events  *memberLog
	eval    *evaluator    // the continuous cluster checks (evaluator.go)
	kube    *kubeAccess   // the Kubernetes API (k0s, acura layouts); nil otherwise
	recent  *recentEvents // the last events emitted, for the status page
	exe     *exePages     // gives back the executable's start-up pages; nil when agent.release_exe_pages_every is 0

	// beats are the loops' heartbeats; a loop silent for stallAfter is
	// stuck (the watchdog stops pinging, /healthz answers 503).
	beats      *component.Heartbeats
	stallAfter time.Duration
	wdPeriod   time.Duration // systemd's WatchdogSec; 0 without one

	ready chan struct{} // closed once Run has started everything
	// machineIDHash is read once: a new machine-id comes with a reboot (the
	// documented regeneration ends in one), and tags are built every second.
	machineIDHash string
	// life is random per process (tag l): with memberlist's incarnation it
	// names one change of this node in every observer's member events.
	life      string
	tagsMu    sync.Mutex
	lastTags  map[string]string // the last tags published
	tagsErr   string            // why newer tags are not published; "" when they are
	tagsDirty chan struct{}
	// etcdSummary is this controller's latest etcd summary (tag e); nil
	// until its etcd check ran, and on other nodes.
	etcdSummary atomic.Pointer[etcd.Summary]
}

// New resolves who this node is and what to check; it starts nothing
// (with --dev it makes the temporary state dir, which Run removes when it
// returns, and New when it fails).
func New(ctx context.Context, o Options) (_ *Agent, err error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Commander == nil {
		o.Commander = checks.ExecCommander{}
	}
	cfg := o.Config
	// Secrets others can read are refused (unless the config explicitly
	// accepts them): the error says which chmod/chown to run.
	insecure, err := cfg.CheckSecretFiles(o.Dev)
	if err != nil {
		return nil, err
	}
	for _, w := range append(cfg.Warnings(), insecure...) {
		o.Logger.Warn(w)
	}
	if o.Dev {
		dir, merr := os.MkdirTemp("", "kuma-agent-dev-")
		if merr != nil {
			return nil, fmt.Errorf("dev state dir: %w", merr)
		}
		defer func() {
			if err != nil {
				os.RemoveAll(dir)
			}
		}()
		cfg.StateDir = dir
		if cfg.Mesh.BindAddr == "" {
			cfg.Mesh.BindAddr = "127.0.0.1"
		}
	}
	a := &Agent{opts: o, cfg: cfg, log: o.Logger, tagsDirty: make(chan struct{}, 1), ready: make(chan struct{}),
		recent: newRecentEvents(recentEventsKept)}
	a.wdPeriod = watchdogPeriod()
	a.stallAfter = stallAfter(a.wdPeriod)
	a.beats = component.NewHeartbeats(beatEvery(a.stallAfter))
	a.cluster, a.invErr = plan.LoadCluster(cfg.Inventory)
	if a.invErr != nil {
		// The daemon still runs: the inventory check reports the error and
		// the operator can fix the file without losing the node's checks.
		a.log.Error("inventory unreadable", "file", cfg.Inventory, "err", a.invErr)
	}
	n, err := plan.ResolveNode(ctx, cfg, a.cluster, o.Commander)
	if err != nil {
		return nil, err
	}
	a.node = n
	var life [clusterchecks.LifeLen / 2]byte
	if _, err := rand.Read(life[:]); err != nil {
		return nil, fmt.Errorf("agent: life tag: %w", err)
	}
	a.life = hex.EncodeToString(life[:])
	if len(cfg.Paths.MachineIDFiles) > 0 {
		if id, err := checks.ReadMachineID(cfg.Paths.MachineIDFiles[0]); err == nil {
			a.machineIDHash = clusterchecks.MachineIDHash(id)
		}
	}
	a.plan = plan.Build(cfg, cfg.Inventory, a.cluster, a.invErr, n, plan.Selection{}, o.Commander)
	a.kube = newKubeAccess(cfg.Kubernetes, a.cluster)
	if cfg.Agent.ReleaseExePagesEvery > 0 {
		a.exe = a.newExePages()
	}
	for _, c := range a.plan.Checks {
		switch c := c.(type) {
		case *checks.Reach:
			a.reach = c
		case *checks.State:
			c.Outbox = a.outboxHealth
		case *checks.Certs:
			a.certs = c
		case *checks.Resources:
			// The daemon keeps the disk growth history across restarts.
			if c.Growth != nil {
				c.Growth.File = filepath.Join(cfg.StateDir, "disk-growth.json")
			}
		case *checks.Etcd:
			c.Publish = a.publishEtcd
		}
	}
	if a.sup, err = a.newSupervisor(); err != nil {
		return nil, err
	}
	if a.sup != nil {
		a.plan.Checks = append(a.plan.Checks, a.sup.Check(), a.kumaUnitsCheck())
		for _, c := range a.plan.Checks {
			if p, ok := c.(*checks.Ports); ok {
				p.UnitPorts = a.unitPorts
			}
		}
	}
	if a.locker == nil && cfg.Events.Enabled {
		// The cluster evaluator's lease rides on the same locker as the
		// supervisor's, with supervision on or off.
		a.locker = newLeaseLocker(a, cfg.Supervisor.LeaseTTL)
	}
	a.eval = a.newEvaluator()
	a.metrics = newAgentMetrics(o.Version)
	a.events = newMemberLog(a.metrics.memberEvents, a.emitMember)
	a.sched = schedule.New(a.plan.Checks, schedule.Options{
		Runner:                 checks.Runner{Timeout: cfg.Checks.Timeout, Concurrency: cfg.Checks.Concurrency},
		Interval:               cfg.Checks.Interval,
		Intervals:              cfg.Checks.Intervals,
		Jitter:                 cfg.Checks.Jitter,
		FailuresBeforeWarning:  cfg.Checks.FailuresBeforeWarning,
		FailuresBeforeCritical: cfg.Checks.FailuresBeforeCritical,
		OnChange:               a.onCheckChange,
		Logger:                 a.log,
		Heartbeat:              a.beats.Add("scheduler"),
	})
	return a, nil
}

// Ready is closed once Run has started every part (what systemd's READY
// reports).
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Node is this agent's identity.
func (a *Agent) Node() plan.Node { return a.node }

// bindAddr is where gossip listens: configured, else the node's inventory
// address, else all addresses.
func (a *Agent) bindAddr() string {
	if a.cfg.Mesh.BindAddr != "" {
		return a.cfg.Mesh.BindAddr
	}
	if a.node.Self != nil && a.node.Self.IP.IsValid() {
		return a.node.Self.IP.String()
	}
	return "0.0.0.0"
}

// joinAddrs are the peers to join: configured, else every other host of
// the inventory on the mesh port.
func (a *Agent) joinAddrs() []string {
	port := strconv.Itoa(a.cfg.Mesh.Port)
	var out []string
	if len(a.cfg.Mesh.RetryJoin) > 0 {
		for _, j := range a.cfg.Mesh.RetryJoin {
			if _, _, err := net.SplitHostPort(j); err != nil {
				j = net.JoinHostPort(j, port)
			}
			out = append(out, j)
		}
		return out
	}
	if a.cluster == nil {
		return nil
	}
	for _, h := range a.cluster.Hosts {
		if h.Name == a.node.Name || h.Address == "" {
			continue
		}
		out = append(out, net.JoinHostPort(h.Address, port))
	}
	return out
}

// meshProfile is the configured failure-detection profile.
func (a *Agent) meshProfile() mesh.Profile {
	if a.cfg.Mesh.Profile == "stock" {
		return mesh.ProfileStock
	}
	return mesh.ProfileLAN
}

// hostCount is the inventory's size (0 without one).
func (a *Agent) hostCount() int {
	if a.cluster == nil {
		return 0
	}
	return len(a.cluster.Hosts)
}

// queryTimeout is how long a cluster-wide query waits: mesh.query_timeout,
// but never less than serf's own query timeout for the cluster's size
// (mesh.Profile.QueryTimeout says why).
func (a *Agent) queryTimeout() time.Duration {
	return max(a.cfg.Mesh.QueryTimeout, a.meshProfile().QueryTimeout(a.hostCount()))
}

func (a *Agent) meshConfig() (mesh.Config, error) {
	mc := mesh.Config{
		NodeName:      a.node.Name,
		BindAddr:      a.bindAddr(),
		BindPort:      a.cfg.Mesh.Port,
		AdvertiseAddr: a.cfg.Mesh.AdvertiseAddr,
		SnapshotPath:  filepath.Join(a.cfg.StateDir, "serf.snapshot"),
		Dev:           a.opts.Dev,
		Logger:        a.log.With("component", "mesh"),
		EventSink:     a.events,
		Tags:          a.initialTags(),
		Heartbeat:     a.beats.Add("mesh"),
	}
	mc.Profile = a.meshProfile()
	mc.Hosts = a.hostCount() // the profile's timing by size
	if !a.opts.Dev {
		mc.KeyringFile = a.cfg.Mesh.KeyringFile
		if _, err := os.Stat(mc.KeyringFile); err != nil {
			return mc, fmt.Errorf("gossip encryption is required: %s: %w (create it on one node with `kuma-agent keygen --out %s`, copy it to every node, owned by root with mode 0600; or run with --dev to try the agent alone)",
				mc.KeyringFile, err, mc.KeyringFile)
		}
	}
	if ip, err := netip.ParseAddr(mc.BindAddr); err == nil && ip.IsUnspecified() && mc.AdvertiseAddr == "" && a.node.Self != nil && a.node.Self.IP.IsValid() {
		mc.AdvertiseAddr = a.node.Self.IP.String()
	}
	return mc, nil
}

// Run starts the components in order (components.go), reports READY to
// systemd, and blocks until ctx is done; then it stops them in reverse
// order, without leaving the mesh. A component that fails to start stops
// the ones already started, and Run returns its error.
func (a *Agent) Run(ctx context.Context) error {
	m := component.NewManager(a.log, a.components()...)
	if err := m.Start(ctx); err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil // asked to stop while starting: not a failure
		}
		return err
	}
	a.log.Info("kuma-agent running", "node", a.node.Name, "roles", a.node.Roles.String(),
		"mesh", net.JoinHostPort(a.bindAddr(), strconv.Itoa(a.cfg.Mesh.Port)), "control", a.cfg.Agent.ControlSocket,
		"http", a.cfg.Agent.HTTPAddr, "dev", a.opts.Dev)
	notify("READY=1\nSTATUS=running")
	close(a.ready)

	<-ctx.Done()
	notify("STOPPING=1")
	a.log.Info("kuma-agent stopping")
	// Stop errors are logged by the manager; the agent did stop.
	_ = m.Stop()
	return nil
}

// onCheckChange runs when a check's status changes: log it and refresh
// the gossip tags so other nodes see it within a gossip round.
func (a *Agent) onCheckChange(prev *checks.Outcome, cur checks.Outcome) {
	// The scheduler logs the change; here it becomes a metric, an event and tags.
	from := "none"
	if prev != nil {
		from = prev.Status.String()
	}
	a.metrics.statusChanges.With(cur.Check, cur.Status.String()).Inc()
	sev := map[checks.Status]events.Severity{checks.OK: events.SeverityInfo, checks.Unknown: events.SeverityWarning,
		checks.Warn: events.SeverityWarning, checks.Crit: events.SeverityCritical}[cur.Status]
	a.emit(events.CheckStatusChanged, cur.Check, sev, events.CheckData{Check: cur.Check, From: from, To: cur.Status.String(), Message: cur.Message, Remedy: cur.Remedy})
	a.markTagsDirty()
}

// emit records an event if events are enabled, and keeps it for the
// status page either way.
func (a *Agent) emit(t events.Type, subject string, sev events.Severity, data any) {
	a.emitID("", t, subject, sev, data)
}

// emitID is emit with the event's id given ("": a random one).
func (a *Agent) emitID(id string, t events.Type, subject string, sev events.Severity, data any) {
	a.recent.record(t, subject, sev, data, time.Now())
	if a.bus != nil {
		a.bus.emit(id, t, subject, sev, data)
	}
}

// memberEventTypes maps mesh member events to event types and severities.
var memberEventTypes = map[string]struct {
	t   events.Type
	sev events.Severity
}{
	"join":   {events.MemberJoined, events.SeverityInfo},
	"update": {events.MemberUpdated, events.SeverityInfo},
	"leave":  {events.MemberLeft, events.SeverityWarning},
	"failed": {events.MemberFailed, events.SeverityCritical},
	"reap":   {events.MemberReaped, events.SeverityWarning},
}

// emitMember records one event per member of e. Its id is the one every
// observer of the same change gives it (events.MemberEventID) when the
// member's life tag and incarnation are known, so the cluster's copies are
// one event; random otherwise (an older agent, a forgotten member).
func (a *Agent) emitMember(e mesh.MemberEvent) {
	m, ok := memberEventTypes[e.Type]
	if !ok {
		return
	}
	for _, mem := range e.Members {
		id := ""
		if life := mem.Tags[clusterchecks.TagLife]; life != "" && mem.Incarnation != 0 && a.bus != nil {
			id = events.MemberEventID(a.cfg.Events.Cluster, m.t, mem.Name, life, mem.Incarnation)
		}
		a.emitID(id, m.t, mem.Name, m.sev, events.MemberData{Member: mem.Name, Addr: mem.Addr, Status: mem.Status})
	}
}
