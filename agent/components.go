package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/agent/mesh"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/component"
	"github.com/kuma-agent/kuma-agent/internal/events"
)

// components are the agent's subsystems in start order; they stop in
// reverse. What each needs is started before it:
//
//	state-dir        the state directory (--dev: removed at stop)
//	event-outbox     events are on disk from here on (agent.started)
//	mesh             gossip, the cluster queries, the join (its sink emits events)
//	lease            the supervisor's cluster lease (fed NATS connections by the publisher)
//	event-publisher  embedded NATS, outbox -> JetStream; at stop: agent.stopping, flushed
//	control          the root-only socket (uses the mesh)
//	http             /metrics and /healthz
//	scheduler        the checks
//	tags             gossips this node's roles and health
//	cluster-evaluator the continuous cluster checks (under the cluster-checks lease; every node for itself without events)
//	core-failover    the out-of-service taint on a dead Core worker (k0s; kubernetes.failover.mode not off; acts only on the evaluator)
//	supervisor       unit healing (uses the mesh, the lease, the events)
//	exe-pages        gives back the executable's start-up pages (a minute in, then every agent.release_exe_pages_every)
//	watchdog         systemd pings while every heartbeat is fresh
func (a *Agent) components() []component.Component {
	cs := []component.Component{component.Func{ID: "state-dir", OnStart: a.startStateDir, OnStop: a.stopStateDir}}
	if a.cfg.Events.Enabled {
		cs = append(cs, component.Func{ID: "event-outbox", OnStart: a.openOutbox, OnStop: a.closeOutbox})
	}
	cs = append(cs, &meshComponent{a: a})
	if a.locker != nil {
		cs = append(cs, component.Func{ID: "lease", OnStop: a.locker.stop})
	}
	if a.cfg.Events.Enabled {
		cs = append(cs, &publisher{a: a})
	}
	cs = append(cs, &controlSocket{a: a})
	if a.cfg.Agent.HTTPAddr != "" {
		cs = append(cs, &httpListener{a: a})
	}
	cs = append(cs,
		&component.Loop{ID: "scheduler", Run: func(ctx context.Context) { _ = a.sched.Run(ctx) }},
		&component.Loop{ID: "tags", Run: a.tagsLoop(a.beats.Add("tags"))},
		&component.Loop{ID: "cluster-evaluator", Run: a.eval.run(a.beats.Add("cluster-evaluator"))},
	)
	if a.kube != nil && a.cluster.Layout == cluster.LayoutK0s && a.cfg.Kubernetes.Failover.Mode != "off" {
		cs = append(cs, &component.Loop{ID: "core-failover", Run: a.failoverLoop(a.beats.Add("core-failover"))})
	}
	if a.sup != nil {
		cs = append(cs, &component.Loop{ID: "supervisor", Run: a.runSupervisor})
	}
	if a.exe != nil {
		cs = append(cs, &component.Loop{ID: "exe-pages", Run: a.exe.run})
	}
	w := &watchdog{log: a.log, beats: a.beats, period: a.wdPeriod, after: a.stallAfter, notify: notify}
	return append(cs, &component.Loop{ID: "watchdog", Run: w.run})
}

// startStateDir makes the state directory. One that cannot be made does
// not stop the agent (only a configuration error does): the outbox holds
// events in memory, the mesh runs without its snapshot, and the state check
// says what is wrong and what to do.
func (a *Agent) startStateDir(context.Context) error {
	if err := os.MkdirAll(a.cfg.StateDir, 0o700); err != nil {
		a.log.Error("state directory unusable: running without it (events held in memory, no mesh snapshot); see the state check",
			"dir", a.cfg.StateDir, "err", err)
	}
	return nil
}

// stopStateDir removes --dev's temporary state, also after a failed start.
func (a *Agent) stopStateDir() error {
	if a.opts.Dev {
		return os.RemoveAll(a.cfg.StateDir)
	}
	return nil
}

func (a *Agent) openOutbox(context.Context) error {
	bus, err := newEventBus(a.cfg, a.node.Name, a.node.Self, a.cluster, a.log.With("component", "events"), a.opts.outboxMemory)
	if err != nil {
		return err
	}
	a.bus = bus
	a.emit(events.AgentStarted, a.node.Name, events.SeverityInfo, events.AgentData{Version: a.opts.Version})
	return nil
}

func (a *Agent) closeOutbox() error { return a.bus.close() }

// meshComponent is gossip: started with this node's tags and the query
// handlers, joined in the background, shut down without leaving.
type meshComponent struct {
	a      *Agent
	cancel context.CancelFunc
	joined sync.WaitGroup
}

func (*meshComponent) Name() string { return "mesh" }

func (c *meshComponent) Start(ctx context.Context) error {
	a := c.a
	mc, err := a.meshConfig()
	if err != nil {
		return err
	}
	if mc.SnapshotPath != "" {
		// serf refuses to start without its snapshot file; a state
		// directory that cannot hold it must not keep the node out of the
		// mesh (the state check reports it). The restart after the fix
		// rejoins from the inventory.
		if f, err := os.OpenFile(mc.SnapshotPath, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600); err != nil {
			a.log.Error("mesh snapshot unusable: gossip runs without it (a restart rejoins from the inventory)", "file", mc.SnapshotPath, "err", err)
			mc.SnapshotPath = ""
		} else {
			f.Close()
		}
	}
	if a.mesh, err = mesh.New(mc); err != nil {
		return err
	}
	if err := a.registerQueries(); err != nil {
		return errors.Join(err, a.mesh.Shutdown())
	}
	ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if addrs := a.joinAddrs(); len(addrs) > 0 {
		c.joined.Go(func() {
			a.mesh.RetryJoin(ctx, addrs, func(n int) { a.log.Info("joined the mesh", "contacted", n) })
		})
	}
	return nil
}

// Stop shuts gossip down without a leave: a restart is not a leave.
func (c *meshComponent) Stop() error {
	c.cancel()
	c.joined.Wait()
	return c.a.mesh.Shutdown()
}

// publisher runs the embedded NATS server and drains the outbox into
// JetStream. The server starts before READY (JetStream restores its store
// then: start-up work, bounded by systemd's start timeout rather than the
// watchdog); a server that cannot start leaves the events in the outbox,
// the rest of the agent runs on. The publisher stops after the components
// that emit events, and emits agent.stopping and flushes first.
type publisher struct {
	a      *Agent
	hb     *component.Heartbeat
	cancel context.CancelFunc
	done   chan struct{}
}

func (*publisher) Name() string { return "event-publisher" }

func (p *publisher) Start(ctx context.Context) error {
	a := p.a
	a.ops.a = a
	a.bus.onConn = func(nc *nats.Conn, servers int) {
		if a.locker != nil { // the supervisor's lease rides on this connection
			a.locker.setConn(nc, servers)
		}
		a.ops.setConn(nc) // and the Raft recoveries' requests (raftops.go)
	}
	p.hb = a.beats.Add("events")
	a.bus.hb, a.bus.stallAfter = p.hb, a.stallAfter
	ctx, p.cancel = context.WithCancel(context.WithoutCancel(ctx))
	p.done = make(chan struct{})
	if !a.bus.startServer() {
		p.hb.Retire() // not stuck: given up on, and logged
		close(p.done)
		return nil
	}
	go func() {
		defer close(p.done)
		a.bus.run(ctx)
	}()
	return nil
}

func (p *publisher) Stop() error {
	a := p.a
	a.emit(events.AgentStopping, a.node.Name, events.SeverityInfo, events.AgentData{Version: a.opts.Version})
	a.bus.flush(2 * time.Second) // what is not published now is published at the next start
	p.cancel()
	<-p.done
	a.bus.stopServer()
	return nil
}

// controlSocket serves the CLI; stopping removes the socket file.
type controlSocket struct {
	a      *Agent
	cancel context.CancelFunc
	done   chan struct{}
}

func (*controlSocket) Name() string { return "control" }

func (c *controlSocket) Start(ctx context.Context) error {
	log := c.a.log.With("component", "control")
	srv, err := control.Listen(c.a.cfg.Agent.ControlSocket, c.a.controlHandlers(), log)
	if err != nil {
		return err
	}
	srv.SetOpTimeout(control.OpRaftExecute, raftExecuteTimeout)
	ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	c.done = make(chan struct{})
	go func() {
		defer close(c.done)
		// The accept loop has no heartbeat: it only accepts and hands
		// each connection to a goroutine bounded by a timeout, so there
		// is nothing in it to get stuck. An accept error ends it.
		if err := srv.Serve(ctx); err != nil {
			log.Error("control socket closed: the CLI cannot reach this agent until it restarts", "err", err)
		}
	}()
	return nil
}

func (c *controlSocket) Stop() error {
	c.cancel()
	<-c.done
	return nil
}

// httpListener serves /metrics and /healthz, with timeouts and a
// connection limit (httplimit.go).
type httpListener struct {
	a    *Agent
	srv  *http.Server
	done chan struct{}
}

func (*httpListener) Name() string { return "http" }

func (h *httpListener) Start(context.Context) error {
	addr := h.a.cfg.Agent.HTTPAddr
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("agent.http_addr %s: %w", addr, err)
	}
	h.srv = newHTTPServer(h.a.httpHandler(), defaultHTTPLimits)
	h.done = make(chan struct{})
	go func() {
		defer close(h.done)
		if err := h.srv.Serve(newLimitListener(ln, defaultHTTPLimits.maxConns)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			h.a.log.Error("http listener", "err", err)
		}
	}()
	return nil
}

func (h *httpListener) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := h.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = h.srv.Close() // a scrape still running: cut it
	}
	<-h.done
	return err
}
