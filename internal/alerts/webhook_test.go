package alerts

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// hookServer answers requests with codes in order (the last one repeats)
// and records what it received.
type hookServer struct {
	*httptest.Server
	mu      sync.Mutex
	codes   []int
	bodies  [][]byte
	headers []http.Header
}

func newHookServer(t *testing.T, codes ...int) *hookServer {
	h := &hookServer{codes: codes}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		n := len(h.bodies)
		h.bodies = append(h.bodies, b)
		h.headers = append(h.headers, r.Header.Clone())
		code := h.codes[min(n, len(h.codes)-1)]
		h.mu.Unlock()
		if r.Method != http.MethodPost {
			code = http.StatusMethodNotAllowed
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) requests() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.bodies)
}

// recordingSleep replaces wall-clock waits with a record of them.
type recordingSleep struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (r *recordingSleep) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.waits = append(r.waits, d)
	r.mu.Unlock()
	return ctx.Err()
}

func webhookConfig(url string, retries int) *Config {
	return &Config{
		QueueSize: 16,
		Rules:     []Rule{{Name: "all", Actions: []string{"hook"}}},
		Actions: map[string]Action{"hook": {Type: ActionWebhook, URL: url, Timeout: 5 * time.Second, Retries: retries,
			Backoff: time.Second, MaxBackoff: 3 * time.Second, Headers: map[string]string{"X-Token": "abc"}}},
	}
}

func runWebhook(t *testing.T, cfg *Config, evs ...events.Event) (*Alerter, *recordingSleep) {
	t.Helper()
	rs := &recordingSleep{}
	a := New(cfg, discardLog())
	a.Sleep = rs.sleep
	a.Rand = func() float64 { return 0 } // the low end of each wait, d/2: checkable
	if err := a.Run(context.Background(), sliceSource(evs)); err != nil {
		t.Fatal(err)
	}
	return a, rs
}

func TestWebhookRetriesThenSucceeds(t *testing.T) {
	srv := newHookServer(t, 500, 503, 502, 500, 200)
	ev := mustEvent(t, "kuma-core-1", events.MemberFailed, events.SeverityCritical)
	a, rs := runWebhook(t, webhookConfig(srv.URL+"/alert", 5), ev)

	if n := srv.requests(); n != 5 {
		t.Fatalf("requests = %d, want 5", n)
	}
	want, _ := json.Marshal(ev)
	for i, b := range srv.bodies {
		if string(b) != string(want) {
			t.Errorf("request %d body = %s, want %s", i, b, want)
		}
		if ct := srv.headers[i].Get("Content-Type"); ct != ContentType {
			t.Errorf("request %d Content-Type = %q", i, ct)
		}
		if tok := srv.headers[i].Get("X-Token"); tok != "abc" {
			t.Errorf("request %d X-Token = %q", i, tok)
		}
	}
	// backoff 1s doubling, capped at max_backoff 3s; half of each with Rand 0.
	if wantWaits := []time.Duration{500 * time.Millisecond, time.Second, 1500 * time.Millisecond, 1500 * time.Millisecond}; !slices.Equal(rs.waits, wantWaits) {
		t.Errorf("waits = %v, want %v", rs.waits, wantWaits)
	}
	if s := a.Stats()["hook"]; s != (Stats{Matched: 1, Delivered: 1}) {
		t.Errorf("stats = %+v", s)
	}
}

func TestWebhookClientErrorNotRetried(t *testing.T) {
	srv := newHookServer(t, 400)
	a, rs := runWebhook(t, webhookConfig(srv.URL, 5), mustEvent(t, "n", events.MemberFailed, events.SeverityCritical))
	if n := srv.requests(); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
	if len(rs.waits) != 0 {
		t.Errorf("waited %v before giving up on a 400", rs.waits)
	}
	if s := a.Stats()["hook"]; s != (Stats{Matched: 1, Failed: 1}) {
		t.Errorf("stats = %+v", s)
	}
}

func TestWebhookRetriesExhausted(t *testing.T) {
	srv := newHookServer(t, http.StatusTooManyRequests)
	a, rs := runWebhook(t, webhookConfig(srv.URL, 2), mustEvent(t, "n", events.MemberFailed, events.SeverityCritical))
	if n := srv.requests(); n != 3 {
		t.Errorf("requests = %d, want 1 + 2 retries", n)
	}
	if len(rs.waits) != 2 {
		t.Errorf("waits = %v, want 2", rs.waits)
	}
	if s := a.Stats()["hook"]; s.Failed != 1 || s.Delivered != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestWebhookNetworkErrorRetried(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connection refused
	a, rs := runWebhook(t, webhookConfig("http://"+addr+"/", 3), mustEvent(t, "n", events.MemberFailed, events.SeverityCritical))
	if len(rs.waits) != 3 {
		t.Errorf("waits = %v, want 3 retries", rs.waits)
	}
	if s := a.Stats()["hook"]; s.Failed != 1 {
		t.Errorf("stats = %+v", s)
	}
}
