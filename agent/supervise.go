package agent

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/component"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/corebackup"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/kumaunit"
	"github.com/kuma-agent/kuma-agent/internal/lease"
	"github.com/kuma-agent/kuma-agent/internal/natsbus"
	"github.com/kuma-agent/kuma-agent/internal/plan"
	"github.com/kuma-agent/kuma-agent/internal/retry"
	"github.com/kuma-agent/kuma-agent/supervisor"
)

// newSupervisor builds the supervisor from the config, the inventory and
// this node's roles; nil when supervision is off.
func (a *Agent) newSupervisor() (*supervisor.Supervisor, error) {
	sc := a.cfg.Supervisor
	if !sc.Enabled {
		return nil, nil
	}
	rules := supervisor.DefaultRules
	if len(sc.Units) > 0 {
		rules = nil
		for _, u := range sc.Units {
			rules = append(rules, supervisor.Rule{Pattern: u.Pattern, Roles: u.Roles, Group: supervisor.Group(u.Group)})
		}
	}
	var layout cluster.Layout
	if a.cluster != nil {
		layout = a.cluster.Layout
	}
	a.systemd = &supervisor.Systemd{Address: sc.DBusAddress, Logger: a.log.With("component", "systemd")}
	var backend supervisor.Backend = a.systemd
	if sc.Backend == "exec" {
		a.systemd = nil // the recoveries need systemd
		backend = &supervisor.Exec{Units: sc.Exec.Units, StatusCmd: sc.Exec.Status, StartCmd: sc.Exec.Start,
			ResetCmd: sc.Exec.ResetFailed, Poll: sc.Exec.PollInterval}
	}
	a.supBeat = a.beats.Add("supervisor")
	backend = beatingBackend{Backend: backend, hb: a.supBeat}
	var locker supervisor.Locker
	if a.cfg.Events.Enabled {
		// Connected to NATS when the event bus is (Run).
		a.locker = newLeaseLocker(a, sc.LeaseTTL)
		locker = a.locker
	}
	return supervisor.New(supervisor.Options{
		Node:      a.node.Name,
		Backend:   backend,
		Selection: supervisor.Select(rules, a.node.Roles, layout),
		Policy: supervisor.Backoff{Initial: sc.Backoff.Initial, Max: sc.Backoff.Max, Jitter: sc.Backoff.Jitter,
			Window: sc.Backoff.Window, MaxAttempts: sc.Backoff.MaxAttempts},
		Guard:        a.guard(layout),
		Peers:        a.peers,
		Locker:       locker,
		DryRun:       sc.DryRun,
		StartStopped: sc.StartStopped,
		HealTimeout:  sc.HealTimeout,
		Emit:         a.emit,
		OnChange:     a.markTagsDirty,
		Logger:       a.log.With("component", "supervisor"),
	})
}

// backupCore archives Core id's working directory, as an event either way.
func (a *Agent) backupCore(ctx context.Context, id string) (corebackup.Backup, error) {
	src := filepath.Join(a.cfg.Supervisor.CoreDir, id)
	b, err := corebackup.Create(ctx, corebackup.FromConfig(a.cfg), id, src)
	if err != nil {
		a.log.Error("Core backup failed: the action that needed it is refused", "core", id, "err", err)
		return b, err
	}
	a.log.Info("Core backed up", "core", id, "archive", b.Path, "bytes", b.Size, "sha256", b.SHA256)
	return b, nil
}

// unitPorts are the ports this node's KUMA units listen on by their own
// flags (ports check): port name -> number.
func (a *Agent) unitPorts() map[string]uint16 {
	out := map[string]uint16{}
	for _, u := range a.sup.Units() {
		if u.Exec == nil {
			continue
		}
		for _, l := range u.Exec.Listeners() {
			if l.PortName != "" {
				out[l.PortName] = uint16(l.Port)
			}
		}
	}
	return out
}

// kumaUnitsCheck judges the KUMA units' own command lines (read by the
// supervisor over D-Bus) against the inventory.
func (a *Agent) kumaUnitsCheck() *checks.KUMAUnits {
	port := a.cfg.Supervisor.Rejoin.RaftPort
	k := &checks.KUMAUnits{Node: a.node.Name, WorkRoot: a.cfg.Supervisor.CoreDir, Units: func(context.Context) ([]checks.KUMAUnit, error) {
		if err := a.sup.WatchError(); err != nil {
			return nil, err
		}
		var out []checks.KUMAUnit
		for _, u := range a.sup.Units() {
			if _, _, ok := kumaunit.ParseName(u.Unit); ok {
				out = append(out, checks.KUMAUnit{Unit: u.Unit, Active: u.Active == "active", Exec: u.Exec, ExecErr: u.ExecErr})
			}
		}
		return out, nil
	}}
	if a.cluster != nil && a.cluster.Layout.RaftCore() {
		k.RaftAddr = a.raftAddr(a.node.Name, port)
		for _, h := range a.cluster.RaftMembers() {
			k.Cores = append(k.Cores, checks.InventoryCore{Name: h.Name, RaftAddr: a.raftAddr(h.Name, port)})
		}
	}
	return k
}

// guard is the quorum guard's picture of the inventory.
func (a *Agent) guard(layout cluster.Layout) supervisor.Guard {
	g := supervisor.Guard{Groups: map[supervisor.Group][]string{}}
	if a.cluster == nil {
		return g // no inventory: the guard refuses every quorum action
	}
	g.Hosts = a.inventoryNames()
	names := func(hs []*cluster.Host) []string {
		var out []string
		for _, h := range hs {
			if !slices.Contains(out, h.Name) {
				out = append(out, h.Name)
			}
		}
		return out
	}
	if layout == "" || layout.RaftCore() { // as supervisor.Select decides
		g.Groups[supervisor.GroupRaft] = names(a.cluster.RaftMembers())
	}
	g.Groups[supervisor.GroupEtcd] = names(a.cluster.EtcdMembers())
	return g
}

// peers is the mesh's view for the guard, the rejoin and the cleanup: the
// members the inventory vouches for, and no other; this node speaks for
// itself from the supervisor (its own gossip may lag by a round).
func (a *Agent) peers() []supervisor.Peer {
	var out []supervisor.Peer
	for _, m := range a.believedMembers() {
		t, _ := clusterchecks.DecodeTags(m.Tags)
		p := supervisor.Peer{Name: m.Name, Alive: m.Status == "alive", Healthy: t.Units == "ok", Raft: t.Raft}
		if m.Name == a.node.Name && a.sup != nil {
			p.Alive = true
			p.Healthy = a.unitsTag() == "ok"
			p.Raft = a.sup.RaftState()
		}
		out = append(out, p)
	}
	return out
}

// unitsTag is what this node gossips about its quorum-group units.
func (a *Agent) unitsTag() string {
	if a.sup == nil {
		return ""
	}
	healthy, known := a.sup.GroupHealthy()
	switch {
	case !known:
		return ""
	case !healthy || a.sup.RaftState() == "out":
		return "down"
	}
	return "ok"
}

// failedSince is when the mesh marked node failed (a member the inventory
// vouches for: a stranger's failure is no cleanup target).
func (a *Agent) failedSince(node string) (time.Time, bool) {
	for _, m := range a.believedMembers() {
		if m.Name == node && m.Status == "failed" {
			return a.events.sinceOf(node), true
		}
	}
	return time.Time{}, false
}

// supervisorBackoff spaces the restarts of a supervisor whose backend
// went away (no systemd, D-Bus restarted).
var supervisorBackoff = retry.Backoff{Min: time.Second, Max: time.Minute}

// runSupervisor runs the supervisor and its rejoin and cleanup loops
// until ctx ends, and waits for them. A backend that cannot be reached (no
// systemd) is retried: the node's checks and mesh go on without it.
func (a *Agent) runSupervisor(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sc := a.cfg.Supervisor
	if sc.Rejoin.Configured() { // readings without acting unless enabled
		wg.Go(func() { a.sup.RunRejoin(ctx, a.rejoinOptions(sc.Rejoin)) })
	}
	if sc.Cleanup.Enabled && a.cluster != nil {
		wg.Go(func() { a.sup.RunCleanup(ctx, a.cleanupOptions(sc.Cleanup)) })
	}
	// Run ends only when the backend does (or with ctx): every end is a
	// failure to retry, so the loop never sees a nil from fn.
	_ = a.supBeat.Retry(ctx, supervisorBackoff, func(ctx context.Context) error {
		err := a.sup.Run(ctx)
		if err == nil {
			err = errors.New("the unit watch ended")
		}
		return err
	}, func(err error, wait time.Duration) {
		a.log.Warn("supervisor stopped; units are not supervised until it restarts", "err", err, "retry_in", wait)
	})
}

// beatingBackend hands the backend's unit updates to the supervisor through
// a relay that beats the supervisor's heartbeat: from its ticker while it
// waits for updates, and after the supervisor's loop took each one. A
// supervisor loop that stops taking updates, or a watch that hangs while
// connecting, stops the beats. (The loop itself is package supervisor's;
// this sees it through the one channel it must keep reading.)
type beatingBackend struct {
	supervisor.Backend
	hb *component.Heartbeat
}

func (b beatingBackend) Watch(ctx context.Context, match func(unit string) bool) (<-chan supervisor.Update, error) {
	in, err := b.Backend.Watch(ctx, match)
	if err != nil {
		return nil, err
	}
	b.hb.Beat()
	out := make(chan supervisor.Update)
	go relayUpdates(ctx, in, out, b.hb)
	return out, nil
}

// relayUpdates passes in to out until in closes or ctx ends, then closes
// out.
func relayUpdates(ctx context.Context, in <-chan supervisor.Update, out chan<- supervisor.Update, hb *component.Heartbeat) {
	defer close(out)
	tick := time.NewTicker(hb.Every())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			hb.Beat()
		case u, ok := <-in:
			if !ok {
				return
			}
			select { // no beat until the supervisor's loop takes it
			case out <- u:
				hb.Beat()
			case <-ctx.Done():
				return
			}
		}
	}
}

func (a *Agent) hostAddr(node string) string {
	if a.cluster != nil {
		if h := a.cluster.Host(node); h != nil && h.Address != "" {
			return h.Address
		}
	}
	return node
}

// raftAddr is the inventory's Raft address of the Core on node, an
// inventory host: its raft_node_addr (host:port), else its inventory name
// (the FQDN KUMA requires) and port. The rejoin dials this, never a name a
// member gossips.
func (a *Agent) raftAddr(node string, port int) string {
	if a.cluster != nil {
		if h := a.cluster.Host(node); h != nil {
			return h.RaftAddr(port)
		}
	}
	return net.JoinHostPort(node, strconv.Itoa(port))
}

// cleanupOptions: etcd's verdict and API through this controller's etcd
// (checks.etcd), the layout's steps for the commands method, the Node
// deleter on Acura.
func (a *Agent) cleanupOptions(c config.Cleanup) supervisor.CleanupOptions {
	cmds := c.K0s
	if a.cluster.Layout == cluster.LayoutAcura {
		cmds = c.Acura
	}
	o := supervisor.CleanupOptions{After: c.After, DryRun: c.DryRun, Commands: cmds, UseAPI: c.Method == config.CleanupAPI,
		Etcd: plan.EtcdAccessFor(a.cfg, a.cluster.Layout), FailedSince: a.failedSince, Address: a.hostAddr}
	if a.cluster.Layout == cluster.LayoutAcura && o.UseAPI {
		switch {
		case a.opts.NodeDeleter != nil:
			o.DeleteNode = a.opts.NodeDeleter
		case a.kube != nil:
			// The layout's admin kubeconfig (kubernetes.kubeconfig), read
			// when a removal needs it: a controller that gets it later
			// needs no restart.
			o.DeleteNode = a.kube
		default:
			a.log.Warn("dead-member cleanup on Acura without a Kubernetes Node deleter: a removed controller's Node stays (`kubectl delete node <name>`)")
		}
	}
	return o
}

func (a *Agent) rejoinOptions(r config.Rejoin) supervisor.RejoinOptions {
	o := supervisor.RejoinOptions{Interval: r.Interval, Readings: r.Readings, JoinCommand: r.JoinCommand, RaftPort: r.RaftPort,
		RaftAddr: func(node string) string { return a.raftAddr(node, r.RaftPort) },
		Act:      r.Enabled, DryRun: r.DryRun, HungReadings: r.HungReadings, RestartHung: r.RestartHung,
		Backup: func(ctx context.Context, id string) (string, error) {
			b, err := a.backupCore(ctx, id)
			return b.Path, err
		}}
	// Patterns were validated with the config; a health signal has Out
	// and In (the config refuses it otherwise).
	if r.HealthURL != "" || r.HealthPath != "" {
		h := supervisor.HealthSignal{URL: r.HealthURL, Path: r.HealthPath, Exec: a.sup.RaftCoreExec, Timeout: r.HealthTimeout,
			Out: regexp.MustCompile(r.OutPattern), In: regexp.MustCompile(r.InPattern)}
		if r.LeaderPattern != "" {
			h.Leader = regexp.MustCompile(r.LeaderPattern)
		}
		o.Signals = append(o.Signals, h)
	}
	if r.LogFile != "" {
		o.Signals = append(o.Signals, &supervisor.LogSignal{File: r.LogFile, Pattern: regexp.MustCompile(r.LogPattern)})
	}
	if len(r.Command) > 0 {
		o.Signals = append(o.Signals, supervisor.CommandSignal{Argv: r.Command})
	}
	return o
}

// leaseLocker is the supervisor's cluster lease over the event bus's NATS
// connection; without a connection there is no lease (and no action on a
// quorum group). The bucket is made as soon as NATS connects: creating a
// replicated bucket takes seconds, which must not delay the first heal.
type leaseLocker struct {
	a   *Agent
	ttl time.Duration

	holds *lease.Holds // what this process holds, across connections

	mu      sync.Mutex
	m       *lease.Manager
	err     error              // why m is nil
	cancel  context.CancelFunc // stops the bucket setup of the last connection
	stopped bool               // the lease component stopped: no new setup
	setups  sync.WaitGroup
}

func newLeaseLocker(a *Agent, ttl time.Duration) *leaseLocker {
	return &leaseLocker{a: a, ttl: ttl, holds: lease.NewHolds()}
}

func (l *leaseLocker) setConn(nc *nats.Conn, servers int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cancel != nil {
		l.cancel()
	}
	l.m, l.err, l.cancel = nil, errors.New("NATS is not connected"), nil
	if nc == nil || l.stopped {
		return
	}
	l.err = errors.New("lease bucket not ready yet")
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.setups.Go(func() { l.setup(ctx, nc, servers) })
}

// stop ends the bucket setup in progress and waits for it; the lease
// component's Stop. Leases still held are the supervisor's to release,
// and it stops first.
func (l *leaseLocker) stop() error {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
	l.setConn(nil, 0) // cancels the setup in progress
	l.setups.Wait()
	return nil
}

// setup creates or binds the bucket, retrying until it works or the
// connection ends.
func (l *leaseLocker) setup(ctx context.Context, nc *nats.Conn, servers int) {
	js, err := jetstream.New(nc)
	if err != nil {
		l.mu.Lock()
		l.err = err
		l.mu.Unlock()
		return
	}
	_ = retry.Do(ctx, leaseSetupBackoff, func(ctx context.Context) error {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		m, err := lease.New(sctx, js, lease.Options{Node: l.a.node.Name, TTL: l.ttl, Liveness: l.a, Replicas: natsbus.ReplicasFor(servers), Holds: l.holds,
			Logger: l.a.log.With("component", "lease"),
			OnEvent: func(t events.Type, d events.LeaseData) {
				if t != events.LeaseRenewed { // renewals every few seconds would drown the history
					l.a.emit(t, d.Purpose, events.SeverityInfo, d)
				}
			}})
		cancel()
		l.mu.Lock()
		defer l.mu.Unlock()
		if ctx.Err() != nil { // a newer connection owns the locker now
			return ctx.Err()
		}
		l.m, l.err = m, err
		return err
	}, func(err error, wait time.Duration) {
		l.a.log.Warn("lease bucket not ready", "err", err, "retry_in", wait)
	})
	l.sweep(ctx)
}

// sweep frees this node's orphaned lease records every TTL while the
// connection lasts (lease.Manager.ReleaseOrphans): a release lost to a
// NATS hiccup would otherwise keep every other node from healing for as
// long as this one lives.
func (l *leaseLocker) sweep(ctx context.Context) {
	for {
		m, err := l.manager()
		if err == nil {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err = m.ReleaseOrphans(sctx, supervisor.LeasePurpose, evaluatorPurpose, raftOpsPurpose)
			cancel()
		}
		if err != nil && ctx.Err() == nil {
			l.a.log.Warn("lease orphan sweep", "err", err)
		}
		if !retry.Sleep(ctx, max(l.ttl, time.Second)) {
			return
		}
	}
}

// leaseSetupBackoff spaces the attempts to create or bind the lease bucket.
var leaseSetupBackoff = retry.Backoff{Min: time.Second, Max: 30 * time.Second}

func (l *leaseLocker) manager() (*lease.Manager, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		if l.err == nil { // never connected: no lease, and never a nil manager
			return nil, errors.New("NATS is not connected yet")
		}
		return nil, l.err
	}
	return l.m, nil
}

// Acquire implements supervisor.Locker.
func (l *leaseLocker) Acquire(ctx context.Context, purpose string) (supervisor.Lock, error) {
	m, err := l.manager()
	if err != nil {
		return nil, err
	}
	le, err := m.Acquire(ctx, purpose)
	if err != nil {
		return nil, err
	}
	kctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &heldLease{l: le, lost: le.KeepAlive(kctx), stop: cancel}, nil
}

type heldLease struct {
	l    *lease.Lease
	lost <-chan error
	stop context.CancelFunc
}

func (h *heldLease) Lost() <-chan error { return h.lost }

func (h *heldLease) Renew(ctx context.Context) error { return h.l.Renew(ctx) }

func (h *heldLease) Release(ctx context.Context) error {
	h.stop()
	return h.l.Release(ctx)
}
