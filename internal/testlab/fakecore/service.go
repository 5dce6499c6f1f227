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
	"path/filepath"
	"strings"
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
	reset      bool   // started from raft/.reset: a one-node cluster this Core leads
	format     string // health format, from the control directory
}

func newCore(cfg config, stderr io.Writer) *core {
	return &core{
		cfg:  cfg,
		dir:  stateDir(cfg.stateDir),
		log:  log.New(stderr, "fake-kuma-core "+cfg.id+": ", 0),
		self: selfAddr(cfg),
	}
}

// selfAddr is this Core's Raft address: --raft.node.addr, else the host name and the
// port of --raft.node.listen (7209 when that is not given either).
func selfAddr(cfg config) string {
	if cfg.raftAddr != "" {
		return cfg.raftAddr
	}
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	port := "7209"
	if _, p, err := net.SplitHostPort(cfg.listeners["raft.node.listen"]); err == nil {
		port = p
	}
	return net.JoinHostPort(host, port)
}

// serve runs the Core service until a signal (exit 0) or a crash fault (exit 1).
func serve(cfg config, stderr io.Writer) int {
	c := newCore(cfg, stderr)
	// The handler is installed before any port answers: a supervisor (or test) that sees
	// the health port up and sends SIGTERM must get the clean exit, not the default kill.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// Faults apply before anything else: crash-always must fail every start.
	if code, exit := c.poll(); exit {
		return code
	}
	reset, err := prepareWorkDir(cfg.workDir, cfg.id, c.self)
	if err != nil {
		c.log.Printf("%v", err)
		return 2
	}
	if reset {
		// The join target of an earlier --install belongs to the cluster this Core left.
		_ = os.Remove(c.dir.path(memberFile))
		c.mu.Lock()
		c.reset = true
		c.mu.Unlock()
		c.log.Printf("raft: %s found: starting as a one-node cluster (file removed)", filepath.Join(cfg.workDir, raftDir, resetFile))
		if code, exit := c.poll(); exit {
			return code
		}
	}

	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	var opened []string
	for _, f := range listenerFlags {
		addr, ok := cfg.listeners[f]
		if !ok {
			continue
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			c.log.Printf("listen --%s %s: %v", f, addr, err)
			return 1
		}
		listeners = append(listeners, l)
		opened = append(opened, "--"+f+" "+l.Addr().String())
		go acceptAndClose(l)
	}
	if cfg.health != "" {
		hl, err := net.Listen("tcp", cfg.health)
		if err != nil {
			c.log.Printf("listen --health %s: %v", cfg.health, err)
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
		opened = append(opened, "--health "+hl.Addr().String())
	}

	c.log.Printf("listening: %s; working directory %s", strings.Join(opened, ", "), cfg.workDir)
	notifyReady(c.log)

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
	role, format := c.dir.word(roleFile), c.dir.word(formatFile)

	c.mu.Lock()
	defer c.mu.Unlock()
	if format != c.format {
		c.log.Printf("health format %q", format)
		c.format = format
	}
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
	leads := role == stateLeader || (role == "" && (c.reset || c.leader == ""))
	if role != "" && role != stateLeader && role != stateFollower && changed {
		c.log.Printf("error: unknown role %q in %s, ignored", role, c.dir.path(roleFile))
	}
	if leads {
		c.leader = c.self
	}

	state := stateFollower
	switch {
	case c.out:
		state = stateOut
	case leads:
		state = stateLeader
	}
	if state != c.state {
		switch {
		case state == stateOut:
			c.log.Printf("raft: removed from cluster; health says out until `core --install` rejoins")
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
func (c *core) raftStatus() (state, leader, format string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateOut {
		return stateOut, "", c.format
	}
	return c.state, c.leader, c.format
}
