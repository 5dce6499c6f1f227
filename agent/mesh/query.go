package mesh

import (
	"context"
	"errors"
	"fmt"
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
// this agent chose to expose can be asked; nothing executes commands.
func (m *Mesh) HandleQuery(name string, fn QueryHandler) error {
	if name == "" || strings.HasPrefix(name, reservedQueryPrefix) {
		return fmt.Errorf("query name %q: empty or reserved (prefix %q)", name, reservedQueryPrefix)
	}
	if fn == nil {
		return fmt.Errorf("query name %q: nil handler", name)
	}
	m.handlersMu.Lock()
	defer m.handlersMu.Unlock()
	m.handlers[name] = fn
	return nil
}

// handleQuery runs the registered handler for q, if any, without blocking
// the event reader.
func (m *Mesh) handleQuery(q *serf.Query) {
	m.handlersMu.RLock()
	fn := m.handlers[q.Name]
	m.handlersMu.RUnlock()
	if fn == nil {
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
		resp, err := fn(q.Payload)
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
func (m *Mesh) QueryUntil(ctx context.Context, name string, payload []byte, filterNodes []string, timeout time.Duration, want int) (map[string]Response, error) {
	if name == "" || strings.HasPrefix(name, reservedQueryPrefix) {
		return nil, fmt.Errorf("query name %q: empty or reserved", name)
	}
	if timeout < 0 {
		return nil, errors.New("query timeout must not be negative")
	}
	// serf numbers a query with its Lamport clock and only advances the
	// clock afterwards, so two concurrent Query calls can share a number and
	// one of them loses its answers. Issuing is serialized; waiting is not.
	m.queryIssue.Lock()
	sent := m.now()
	// RelayFactor: each answer also travels through 2 other members, so one
	// lost UDP datagram does not make a live node look silent.
	resp, err := m.serf.Query(name, payload, &serf.QueryParam{FilterNodes: filterNodes, Timeout: timeout, RelayFactor: 2})
	m.queryIssue.Unlock()
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", name, err)
	}
	out := make(map[string]Response)
	for {
		select {
		case r, ok := <-resp.ResponseCh():
			if !ok {
				return out, nil
			}
			out[r.From] = Response{Payload: r.Payload, Sent: sent, At: m.now()}
			if want > 0 && len(out) >= want {
				resp.Close()
				return out, nil
			}
		case <-ctx.Done():
			resp.Close()
			return out, fmt.Errorf("query %q: %w", name, ctx.Err())
		}
	}
}
