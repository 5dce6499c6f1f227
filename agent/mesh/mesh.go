package mesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/kuma-agent/kuma-agent/internal/component"
	"github.com/kuma-agent/kuma-agent/internal/retry"
)

// defaultJoinBackoff: start at 1s so a cluster that boots together forms
// fast, cap at 30s so a long outage costs few log lines.
var defaultJoinBackoff = retry.Backoff{Min: time.Second, Max: 30 * time.Second}

// Mesh is one agent's membership in the gossip cluster.
type Mesh struct {
	serf *serf.Serf
	gate *memberGate
	log  *slog.Logger
	now  func() time.Time
	sink EventSink
	hb   *component.Heartbeat

	sinkCh       chan MemberEvent
	readerDone   chan struct{}
	dispatchDone chan struct{}
	eventDrops   atomic.Uint64

	handlersMu sync.RWMutex
	handlers   map[string]queryHandler
	querySlots chan struct{}
	// spread bounds the random pause before a spread answer (AnswerSpread);
	// pause draws it (randomPause; tests fix it).
	spread       time.Duration
	pause        func(limit time.Duration) time.Duration
	queryDrops   atomic.Uint64
	queryReasks  atomic.Uint64
	queryWG      sync.WaitGroup
	queryIssue   sync.Mutex // issuing a query, or setting tags (query.go, SetTags)
	joinBackoff  retry.Backoff
	shutdownOnce sync.Once
	shutdownErr  error
}

// New validates cfg, starts gossip on the configured address and, if a
// snapshot from an earlier run exists, starts rejoining its members. It
// does not join anyone else; call Join or RetryJoin.
func New(cfg Config) (*Mesh, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("mesh config: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("node", cfg.NodeName)
	keys, err := cfg.keys(log)
	if err != nil {
		return nil, fmt.Errorf("mesh config: %w", err)
	}
	if len(keys) == 0 {
		if !cfg.Dev {
			return nil, errors.New("mesh config: field Keys: gossip encryption key required (KeyringFile does not exist yet and Keys is empty)")
		}
		log.Warn("gossip encryption is OFF (Dev mode)")
	}

	eventCh := make(chan serf.Event, eventChanLen)
	gate := newMemberGate(log)
	sc, err := cfg.serfConfig(keys, log, eventCh, gate)
	if err != nil {
		return nil, fmt.Errorf("mesh config: %w", err)
	}
	tr, err := newGatedTransport(sc.MemberlistConfig)
	if err != nil {
		return nil, fmt.Errorf("start gossip: %w", err)
	}
	s, err := serf.Create(sc)
	if err != nil {
		_ = tr.Shutdown()
		return nil, fmt.Errorf("start gossip on %s:%d: %w", sc.MemberlistConfig.BindAddr, cfg.BindPort, err)
	}
	tr.openGate() // serf is complete: its delegate may send now (startgate.go)

	m := &Mesh{
		serf:         s,
		gate:         gate,
		log:          log,
		now:          cfg.Now,
		sink:         cfg.EventSink,
		hb:           cfg.Heartbeat,
		readerDone:   make(chan struct{}),
		dispatchDone: make(chan struct{}),
		handlers:     make(map[string]queryHandler),
		querySlots:   make(chan struct{}, maxQueryHandlers),
		spread:       cfg.Profile.AnswerSpread(cfg.Hosts),
		pause:        randomPause,
		joinBackoff:  defaultJoinBackoff,
	}
	if m.now == nil {
		m.now = time.Now
	}
	if cfg.answerSpread > 0 {
		m.spread = cfg.answerSpread
	}
	if cfg.answerPause != nil {
		m.pause = cfg.answerPause
	}
	queueLen := cfg.sinkQueueLen
	if queueLen <= 0 {
		queueLen = defaultSinkQueueLen
	}
	m.sinkCh = make(chan MemberEvent, queueLen)
	go m.readEvents(eventCh)
	if m.sink != nil {
		go m.dispatch()
	} else {
		close(m.dispatchDone)
	}
	local := m.LocalMember()
	gate.track(MemberEvent{Type: "join", Members: []Member{local}})
	log.Info("gossip started", "addr", local.Addr, "port", local.Port,
		"profile", cfg.Profile.String(), "hosts", cfg.Hosts, "probe_interval", sc.MemberlistConfig.ProbeInterval, "encrypted", s.EncryptionEnabled(), "snapshot", cfg.SnapshotPath)
	return m, nil
}

// Join contacts the given agents ("host:port", or "name/host:port") and
// returns how many were reached. The error is non-nil only if none was.
func (m *Mesh) Join(addrs []string) (int, error) {
	if len(addrs) == 0 {
		return 0, errors.New("join: no addresses given")
	}
	n, err := m.serf.Join(addrs, true)
	if err != nil && n == 0 {
		return 0, fmt.Errorf("join %v: %w", addrs, err)
	}
	return n, nil
}

// RetryJoin calls Join until it reaches at least one agent, ctx is done or
// the mesh shuts down, waiting 1s, 2s, 4s ... up to 30s (jittered) between
// attempts and logging each failure. onJoined (may be nil) gets the number
// of agents reached.
func (m *Mesh) RetryJoin(ctx context.Context, addrs []string, onJoined func(int)) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // a shut-down mesh has nobody left to join for
		select {
		case <-m.serf.ShutdownCh():
			cancel()
		case <-ctx.Done():
		}
	}()
	attempts, contacted := 0, 0
	err := retry.Do(ctx, m.joinBackoff, func(context.Context) (err error) {
		attempts++
		contacted, err = m.Join(addrs)
		return err
	}, func(err error, wait time.Duration) {
		m.log.Warn("gossip join failed, will retry", "attempt", attempts, "retry_in", wait, "err", err)
	})
	if err != nil {
		return
	}
	m.log.Info("gossip joined", "contacted", contacted, "attempt", attempts)
	if onJoined != nil {
		onJoined(contacted)
	}
}

// Members returns every known member, including failed and left ones.
func (m *Mesh) Members() []Member {
	in := m.serf.Members()
	out := make([]Member, 0, len(in))
	for _, s := range in {
		out = append(out, toMember(s))
	}
	return out
}

// LocalMember returns this agent as the cluster sees it.
func (m *Mesh) LocalMember() Member {
	return toMember(m.serf.LocalMember())
}

// SetTags replaces this agent's tags and gossips them. Tag sets encoding to
// more than MaxTagsSize bytes are rejected with ErrTagsTooLarge.
func (m *Mesh) SetTags(tags map[string]string) error {
	if err := checkTags(tags); err != nil {
		return fmt.Errorf("set tags: %w", err)
	}
	// serf.Query reads the local node's address fields without a lock,
	// and SetTags rewrites them (memberlist's aliveNode): the race detector
	// caught the two once queries ran continuously (the cluster evaluator).
	// Issuing a query and setting tags take turns.
	m.queryIssue.Lock()
	err := m.serf.SetTags(cloneTags(tags))
	m.queryIssue.Unlock()
	if err != nil {
		return fmt.Errorf("set tags: %w", err)
	}
	return nil
}

// Leave announces that this agent leaves the cluster for good, waits for the
// announcement to spread, then shuts down. Others list it as "left", and a
// restart does not rejoin from the snapshot. Use Shutdown for restarts.
func (m *Mesh) Leave() error {
	err := m.serf.Leave()
	if err != nil {
		err = fmt.Errorf("leave: %w", err)
	}
	return errors.Join(err, m.Shutdown())
}

// Shutdown stops gossip without leaving: others mark this agent failed, and
// a restart with the same NodeName and SnapshotPath rejoins. It waits up to
// sinkDrainTimeout for the EventSink to take queued events. Safe to call
// more than once.
func (m *Mesh) Shutdown() error {
	m.shutdownOnce.Do(func() {
		if err := m.serf.Shutdown(); err != nil {
			m.shutdownErr = fmt.Errorf("shutdown: %w", err)
		}
		<-m.readerDone
		m.gate.log.stop()
		m.queryWG.Wait()
		close(m.sinkCh)
		// A stuck sink must not hang a restart; its queued events are lost.
		t := time.NewTimer(sinkDrainTimeout)
		defer t.Stop()
		select {
		case <-m.dispatchDone:
		case <-t.C:
			m.log.Warn("gossip event sink still busy at shutdown, abandoning it", "waited", sinkDrainTimeout)
		}
		m.log.Info("gossip stopped")
	})
	return m.shutdownErr
}

// RTT is the estimated direct round trip to node from serf's network
// coordinates (Vivaldi, learned from probes); false when not yet known.
func (m *Mesh) RTT(node string) (time.Duration, bool) {
	self, err := m.serf.GetCoordinate()
	if err != nil {
		return 0, false
	}
	other, ok := m.serf.GetCachedCoordinate(node)
	if !ok || other == nil {
		return 0, false
	}
	return self.DistanceTo(other), true
}

// Stats is a point-in-time view of the gossip layer for diagnostics.
type Stats struct {
	Members, Failed, Left int
	// HealthScore is memberlist's Lifeguard awareness score; 0 is healthy,
	// higher means this agent has been slow to answer or probe.
	HealthScore int
	Encrypted   bool
	// EventsDropped counts member events not delivered to the EventSink
	// because it was too slow; QueriesDropped counts queries not answered
	// because too many handlers were running.
	EventsDropped, QueriesDropped uint64
	// QueriesReasked counts queries this agent asked again of members
	// still silent at half the timeout (QueryUntil).
	QueriesReasked uint64
	// MembersRefused counts the member announcements refused at merge: a
	// name that is not a host name, or a name alive at another address.
	MembersRefused uint64
	// Serf is serf's raw statistics map.
	Serf map[string]string
}

// Stats returns current statistics.
func (m *Mesh) Stats() Stats {
	raw := m.serf.Stats()
	atoi := func(k string) int {
		n, _ := strconv.Atoi(raw[k]) // serf formats these itself
		return n
	}
	return Stats{
		Members:        atoi("members"),
		Failed:         atoi("failed"),
		Left:           atoi("left"),
		HealthScore:    atoi("health_score"),
		Encrypted:      m.serf.EncryptionEnabled(),
		EventsDropped:  m.eventDrops.Load(),
		QueriesDropped: m.queryDrops.Load(),
		QueriesReasked: m.queryReasks.Load(),
		MembersRefused: m.gate.refused.Load(),
		Serf:           raw,
	}
}
