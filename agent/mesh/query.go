package mesh

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/hashicorp/serf/serf"
)

// QueryHandler answers a query; the returned bytes are sent back to the
// asking agent. Handlers must be quick: the asker waits only until its
// timeout. Returning an error sends no answer.
type QueryHandler func(payload []byte) ([]byte, error)

// reservedQueryPrefix is serf's namespace for its internal queries
// (keyring operations, conflict resolution).
const reservedQueryPrefix = "_serf_"

// HandleQuery registers fn for queries named name, replacing any earlier
// handler. Queries for names without a handler are ignored, so only what
// this agent chose to expose can be asked; nothing executes commands. fn
// runs as soon as the query arrives: for answers whose timing matters (a
// clock reading).
func (m *Mesh) HandleQuery(name string, fn QueryHandler) error {
	return m.handle(name, fn, false)
}

// HandleQuerySpread is HandleQuery for answers that cost work (probes,
// encoding findings): fn runs after a random pause within the profile's
// AnswerSpread, so that the members of a large cluster neither work nor
// answer all in the same instant.
func (m *Mesh) HandleQuerySpread(name string, fn QueryHandler) error {
	return m.handle(name, fn, true)
}

// queryHandler is a registered handler and whether its answers spread.
type queryHandler struct {
	fn     QueryHandler
	spread bool
}

func (m *Mesh) handle(name string, fn QueryHandler, spread bool) error {
	if name == "" || strings.HasPrefix(name, reservedQueryPrefix) {
		return fmt.Errorf("query name %q: empty or reserved (prefix %q)", name, reservedQueryPrefix)
	}
	if fn == nil {
		return fmt.Errorf("query name %q: nil handler", name)
	}
	m.handlersMu.Lock()
	defer m.handlersMu.Unlock()
	m.handlers[name] = queryHandler{fn: fn, spread: spread}
	return nil
}

// handleQuery runs the registered handler for q, if any, without blocking
// the event reader.
func (m *Mesh) handleQuery(q *serf.Query) {
	m.handlersMu.RLock()
	h, ok := m.handlers[q.Name]
	m.handlersMu.RUnlock()
	if !ok {
		m.log.Debug("gossip query ignored: no handler", "query", q.Name, "from", q.SourceNode())
		return
	}
	select {
	case m.querySlots <- struct{}{}:
	default:
		m.queryDrops.Add(1)
		m.log.Warn("gossip query dropped: too many running", "query", q.Name, "from", q.SourceNode())
		return
	}
	m.queryWG.Add(1)
	go func() {
		defer func() { <-m.querySlots; m.queryWG.Done() }()
		if h.spread && !m.pauseBeforeAnswer(q.Deadline()) {
			return
		}
		resp, err := h.fn(q.Payload)
		if err != nil {
			m.log.Warn("gossip query handler failed", "query", q.Name, "from", q.SourceNode(), "err", err)
			return
		}
		// serf enforces MaxQueryResponse (encoded size).
		if err := q.Respond(resp); err != nil {
			m.log.Warn("gossip query response not sent", "query", q.Name, "from", q.SourceNode(), "err", err)
		}
	}()
}

// pauseBeforeAnswer waits a random part of the answer spread, at most a
// quarter of the time left until the query's deadline; false if the mesh
// shut down meanwhile.
func (m *Mesh) pauseBeforeAnswer(deadline time.Time) bool {
	limit := min(m.spread, time.Until(deadline)/4)
	if limit <= 0 {
		return true
	}
	t := time.NewTimer(m.pause(limit))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-m.serf.ShutdownCh():
		return false
	}
}

// randomPause is a uniformly random duration in [0, limit).
func randomPause(limit time.Duration) time.Duration { return rand.N(limit) }

// MaxQueryResponse is the largest answer a handler may send. serf's default
// is 1 KiB; doctor --cluster answers carry a node's findings, compressed,
// so the limit is raised. Answers travel as single UDP datagrams, which
// loopback and LANs carry at this size (IP fragments them).
const MaxQueryResponse = 16 << 10

// Response is one agent's answer with the time it arrived, which the clock
// skew check needs for its round-trip correction.
type Response struct {
	Payload []byte
	// Sent is when the query went out, At when this answer arrived.
	Sent, At time.Time
}

// Query asks the cluster (or only filterNodes, if not empty) and collects
// answers by node name until timeout (0 means serf's default, 1.6s with
// ProfileLAN on up to 9 nodes) or ctx is done. Agents without a handler for
// name do not answer. The request is limited to about 1 KiB encoded.
func (m *Mesh) Query(ctx context.Context, name string, payload []byte, filterNodes []string, timeout time.Duration) (map[string]Response, error) {
	return m.QueryUntil(ctx, name, payload, filterNodes, timeout, 0)
}

// QueryUntil is Query that returns as soon as want answers have arrived
// (want <= 0: wait for the timeout), so asking every live member costs the
// slowest answer, not the whole timeout.
//
// With want > 0 the caller expects an answer from every member asked (the
// filterNodes, or every alive member), so the query goes out without relays
// and only the members still silent at half the timeout are asked again,
// with relays (queryRelayFactor), and only when they are few (reaskLimit):
// many silent members are late, not lost. Relaying every answer through
// two more members tripled what the asker receives: at 50 nodes the
// evaluator's four queries brought ~600 datagrams at once, and that node
// alone then learnt of a dead member seconds after the rest (measured: 3.9
// and 4.4 s against a median of 1.3-1.7 s). A lost datagram costs half the
// timeout, no more, and is counted (Stats.QueriesReasked); one lost while
// many members are late costs the whole timeout, and its member is left
// unanswered.
func (m *Mesh) QueryUntil(ctx context.Context, name string, payload []byte, filterNodes []string, timeout time.Duration, want int) (map[string]Response, error) {
	if name == "" || strings.HasPrefix(name, reservedQueryPrefix) {
		return nil, fmt.Errorf("query name %q: empty or reserved", name)
	}
	if timeout < 0 {
		return nil, errors.New("query timeout must not be negative")
	}
	if timeout == 0 {
		timeout = m.serf.DefaultQueryTimeout()
	}
	relay := uint8(queryRelayFactor)
	if want > 0 {
		relay = 0
	}
	first, err := m.issueQuery(name, payload, filterNodes, timeout, relay)
	if err != nil {
		return nil, err
	}
	defer first.resp.Close()
	out := make(map[string]Response)
	var reask <-chan time.Time
	if want > 0 {
		t := time.NewTimer(timeout / 2)
		defer t.Stop()
		reask = t.C
	}
	// Each ask's channel closes at its deadline (the second ask's is the
	// first's); nil once closed. The loop ends when both are.
	var again *issuedQuery
	var againCh <-chan serf.NodeResponse
	firstCh := first.resp.ResponseCh()
	for firstCh != nil || againCh != nil {
		select {
		case r, ok := <-firstCh:
			if !ok {
				firstCh = nil
				continue
			}
			m.collect(first, r, out)
		case r, ok := <-againCh:
			if !ok {
				againCh = nil
				continue
			}
			m.collect(again, r, out)
		case <-reask:
			reask = nil
			missing := m.unanswered(filterNodes, out)
			if len(missing) == 0 {
				continue
			}
			if len(missing) > reaskLimit(want) {
				// Lost datagrams are few and random; this many silent
				// members are slow (a loaded cluster, the answers'
				// spread), and asking them again, with relays, tripled
				// what a slow cluster had to send and the asker to
				// read (at 50 agents under load: ~120 duplicate answers
				// per query, the evaluator learning of a death seconds
				// after the rest). They have until the deadline.
				m.log.Debug("gossip query: many members silent at half the timeout, late rather than lost; not asked again", "query", name, "silent", len(missing))
				continue
			}
			left := timeout - m.now().Sub(first.sent)
			if left <= 0 {
				continue
			}
			var err error
			again, err = m.issueQuery(name, payload, missing, left, queryRelayFactor)
			if err != nil {
				// Too many silent members to name within serf's query size
				// limit: ask everyone asked before, with relays.
				again, err = m.issueQuery(name, payload, filterNodes, left, queryRelayFactor)
			}
			if err != nil {
				m.log.Warn("gossip query not asked again", "query", name, "silent", len(missing), "err", err)
				continue
			}
			defer again.resp.Close()
			againCh = again.resp.ResponseCh()
			m.queryReasks.Add(1)
			m.log.Debug("gossip query asked again of its silent members", "query", name, "silent", len(missing))
		case <-ctx.Done():
			return out, fmt.Errorf("query %q: %w", name, ctx.Err())
		}
		if want > 0 && len(out) >= want {
			return out, nil
		}
	}
	return out, nil
}

// reaskLimit is the most silent members QueryUntil asks again at half the
// timeout when want answers are expected: a tenth of them, at least 3.
func reaskLimit(want int) int { return max(3, want/10) }

// queryRelayFactor is how many other members relay each answer when
// relays are used: one lost UDP datagram then does not make a live node
// look silent.
const queryRelayFactor = 2

// issuedQuery is one serf query in flight.
type issuedQuery struct {
	resp *serf.QueryResponse
	sent time.Time
}

// issueQuery sends one serf query. serf numbers a query with its Lamport
// clock and only advances the clock afterwards, so two concurrent Query
// calls can share a number and one of them loses its answers: issuing is
// serialized; waiting is not.
func (m *Mesh) issueQuery(name string, payload []byte, filterNodes []string, timeout time.Duration, relay uint8) (*issuedQuery, error) {
	m.queryIssue.Lock()
	defer m.queryIssue.Unlock()
	sent := m.now()
	resp, err := m.serf.Query(name, payload, &serf.QueryParam{FilterNodes: filterNodes, Timeout: timeout, RelayFactor: relay})
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", name, err)
	}
	return &issuedQuery{resp: resp, sent: sent}, nil
}

// collect records one answer of q (the first answer of a node counts).
func (m *Mesh) collect(q *issuedQuery, r serf.NodeResponse, out map[string]Response) {
	if _, dup := out[r.From]; !dup {
		out[r.From] = Response{Payload: r.Payload, Sent: q.sent, At: m.now()}
	}
}

// unanswered is who was asked and has not answered: the filter's names,
// or every alive member.
func (m *Mesh) unanswered(filterNodes []string, out map[string]Response) []string {
	var missing []string
	if len(filterNodes) > 0 {
		for _, n := range filterNodes {
			if _, ok := out[n]; !ok {
				missing = append(missing, n)
			}
		}
		return missing
	}
	for _, mem := range m.serf.Members() {
		if _, ok := out[mem.Name]; !ok && mem.Status == serf.StatusAlive {
			missing = append(missing, mem.Name)
		}
	}
	return missing
}
