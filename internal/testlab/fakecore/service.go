package main

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// pollInterval is how often the service reads the state dir; --install and fault writes
// take effect within one or two of these.
const pollInterval = 50 * time.Millisecond

const (
	stateLeader   = "leader"
	stateFollower = "follower"
	stateOut      = "out"
)

// core is the running service's state, driven by the state dir.
type core struct {
	cfg  config
	dir  stateDir
	log  *log.Logger
	self string // our Raft address, reported as leader when --leader

	mu         sync.Mutex
	fault      string // last fault word seen, to log each change once
	hung       bool
	out        bool
	outAtJoins int    // joins.log count when we fell out; a larger count is the rejoin
	leader     string // current leader while follower
	state      string // last reported Raft state, to log each change once
}

func newCore(cfg config, stderr io.Writer) *core {
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	raftPort := 7209
	if len(cfg.ports) > 0 {
		raftPort = cfg.ports[0]
	}
	return &core{
		cfg:  cfg,
		dir:  stateDir(cfg.stateDir),
		log:  log.New(stderr, "fake-kuma-core "+cfg.id+": ", 0),
		self: net.JoinHostPort(host, strconv.Itoa(raftPort)),
	}
}

// serve runs the Core service until a signal (exit 0) or a crash fault (exit 1).
func serve(cfg config, stderr io.Writer) int {
	c := newCore(cfg, stderr)
	// Faults apply before listening too: crash-always must fail every start.
	if code, exit := c.poll(); exit {
		return code
	}

	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for _, p := range cfg.ports {
		l, err := net.Listen("tcp", net.JoinHostPort(cfg.listen, strconv.Itoa(p)))
		if err != nil {
			c.log.Printf("listen: %v", err)
			return 1
		}
		listeners = append(listeners, l)
		go acceptAndClose(l)
	}
	hl, err := net.Listen("tcp", cfg.health)
	if err != nil {
		c.log.Printf("listen health: %v", err)
		return 1
	}
	srv := &http.Server{Handler: c, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Printf("health server: %v", err)
		}
	}()
	// Close, not Shutdown: a request held by "hang" would otherwise block the exit.
	defer srv.Close()

	c.log.Printf("listening on %s ports %v, health on %s", cfg.listen, cfg.ports, hl.Addr())
	notifyReady(c.log)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go watchdog(ctx, c.log, c.isHung)

	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.log.Printf("stopping on signal")
			return 0
		case <-t.C:
			if code, exit := c.poll(); exit {
				return code
			}
		}
	}
}

// acceptAndClose is all the non-health ports need: a supervisor only probes that they
// accept connections.
func acceptAndClose(l net.Listener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		conn.Close()
	}
}

// poll applies the state dir and logs every change; exit reports a crash fault.
func (c *core) poll() (code int, exit bool) {
	fault, joins := c.dir.fault(), c.dir.joins()
	member, joined := c.dir.member()

	c.mu.Lock()
	defer c.mu.Unlock()
	changed := fault != c.fault
	c.fault = fault

	switch fault {
	case "", faultHang, faultLeave:
	case faultCrash:
		// Clear first so that the restart systemd makes comes up healthy.
		if err := c.dir.clearFault(); err != nil {
			c.log.Printf("fault crash: clear %s: %v", c.dir.path(faultFile), err)
		}
		c.log.Printf("fault crash: exiting 1 (fault file cleared)")
		return 1, true
	case faultCrashAlways:
		c.log.Printf("fault crash-always: exiting 1 (fault left in place)")
		return 1, true
	default:
		if changed {
			c.log.Printf("error: unknown fault word %q in %s, ignored; staying healthy", fault, c.dir.path(faultFile))
		}
	}

	if hung := fault == faultHang; hung != c.hung {
		c.hung = hung
		if hung {
			c.log.Printf("fault hang: health answers and watchdog pings stopped")
		} else {
			c.log.Printf("hang cleared: health answers and watchdog pings resumed")
		}
	}

	// A rejoin needs a new --install record; clearing "leave" by hand is not enough,
	// just as a real Core removed from Raft stays out until it is reinstalled.
	if fault == faultLeave && !c.out {
		c.out, c.outAtJoins = true, joins
	} else if c.out && fault != faultLeave && joins > c.outAtJoins {
		c.out = false
	}
	c.leader = c.cfg.join
	if joined && member != "" {
		c.leader = member
	}
	if c.cfg.leader {
		c.leader = c.self
	}

	state := stateFollower
	switch {
	case c.out:
		state = stateOut
	case c.cfg.leader:
		state = stateLeader
	}
	if state != c.state {
		switch {
		case state == stateOut:
			c.log.Printf("raft: removed from cluster; health 503 until `core --install` rejoins")
		case c.state == stateOut:
			c.log.Printf("raft: rejoined cluster, state %s, leader %s", state, c.leader)
		default:
			c.log.Printf("raft: state %s, leader %s", state, c.leader)
		}
		c.state = state
	}
	return 0, false
}

func (c *core) isHung() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hung
}

// raftStatus is what health reports: state and the leader's address.
func (c *core) raftStatus() (state, leader string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateOut {
		return stateOut, ""
	}
	return c.state, c.leader
}
