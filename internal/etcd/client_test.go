package etcd

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// gateway serves canned answers by path.
func gateway(t *testing.T, answers map[string]func(w http.ResponseWriter, r *http.Request)) (*Client, string) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := answers[r.URL.Path]; h != nil {
			h(w, r)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	return &Client{HTTP: srv.Client(), Timeout: 2 * time.Second}, srv.URL
}

func text(code int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

func TestClientAnswersAndErrors(t *testing.T) {
	var removed string
	c, url := gateway(t, map[string]func(http.ResponseWriter, *http.Request){
		"/health":                 text(503, `{"health":"false","reason":"RAFT NO LEADER"}`),
		"/v3/cluster/member/list": text(200, realList),
		"/v3/maintenance/status":  text(500, `{"error":"etcdserver: request timed out","code":14}`),
		"/v3/cluster/member/remove": func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			removed = string(b)
			io.WriteString(w, `{"header":{},"members":[{"ID":"9372538179322589801","name":"m1"}]}`)
		},
	})
	ctx := context.Background()
	h, err := c.Health(ctx, url)
	if err != nil || h.OK() {
		t.Fatalf("503 health is an answer, unhealthy: %+v %v", h, err)
	}
	if _, err := c.Status(ctx, url); err == nil || !strings.Contains(err.Error(), "request timed out") {
		t.Fatalf("status error %v, want the gateway's message", err)
	}
	if err := c.RemoveMember(ctx, url, 18446744073709551615); err != nil {
		t.Fatal(err)
	}
	if removed != `{"ID":"18446744073709551615"}` {
		t.Fatalf("remove body %s: the ID must be a decimal string", removed)
	}
	if err := c.RemoveMember(ctx, url, 9372538179322589801); err == nil {
		t.Fatal("a member still listed after its removal was reported removed")
	}
}

func TestClientCapsAndTimesOut(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	c, url := gateway(t, map[string]func(http.ResponseWriter, *http.Request){
		"/v3/cluster/member/list": text(200, `{"members":[`+strings.Repeat(`{"ID":"1"},`, 40000)+`]}`),
		"/health": func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-block:
			case <-r.Context().Done():
				// No answer at all: an empty 200 could race the
				// client's own cancellation (as in internal/kube's
				// TestRequestTimedOut under CI's stress).
				panic(http.ErrAbortHandler)
			}
		},
	})
	c.Timeout = 30 * time.Second // a loaded machine still reads the 400 KB in time
	if _, err := c.MemberList(context.Background(), url); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversize answer: %v", err)
	}
	c.Timeout = 200 * time.Millisecond
	if _, err := c.Health(context.Background(), url); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hanging endpoint: %v, want a deadline error", err)
	}
}

// In k0s every member advertises https://127.0.0.1:2379: the survey must
// not read the local member's status for the others, and judges them by
// their peer URLs instead.
func TestSurveySharedClientURLsUsePeerProbe(t *testing.T) {
	c, url := gateway(t, map[string]func(http.ResponseWriter, *http.Request){
		"/health": text(200, `{"health":"true"}`),
		"/v3/cluster/member/list": text(200, `{"header":{"member_id":"1"},"members":[`+
			`{"ID":"1","name":"c1","peerURLs":["https://10.0.0.1:2380"],"clientURLs":["https://127.0.0.1:2379"]},`+
			`{"ID":"2","name":"c2","peerURLs":["https://10.0.0.2:2380"],"clientURLs":["https://127.0.0.1:2379"]},`+
			`{"ID":"3","name":"c3","peerURLs":["https://10.0.0.3:2380"],"clientURLs":["https://127.0.0.1:2379"]},`+
			`{"ID":"4","peerURLs":["https://10.0.0.4:2380"]}]}`),
		"/v3/maintenance/status": text(200, `{"header":{"member_id":"1"},"leader":"2","dbSize":"100"}`),
	})
	var mu sync.Mutex
	var dialed []string
	dial := func(_ context.Context, _, addr string) (net.Conn, error) {
		mu.Lock()
		dialed = append(dialed, addr)
		mu.Unlock()
		if addr == "10.0.0.3:2380" {
			return nil, errors.New("connection refused")
		}
		a, b := net.Pipe()
		b.Close()
		return a, nil
	}
	s, err := c.Survey(context.Background(), url, func(ctx context.Context, n, a string) (net.Conn, error) { return dial(ctx, n, a) })
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"c1": true, "c2": true, "c3": false, "": false}
	for _, m := range s.Members {
		if m.Healthy != want[m.Name] {
			t.Errorf("%s: healthy %v (%s), want %v", m.Name, m.Healthy, m.Err, want[m.Name])
		}
	}
	if s.Leader != 2 || s.LeaderName() != "c2" || s.Self != 1 {
		t.Fatalf("leader %d %q self %d", s.Leader, s.LeaderName(), s.Self)
	}
	if q := s.Quorum(); q.Members != 4 || q.Healthy != 2 || q.HasQuorum {
		t.Fatalf("quorum %+v", q)
	}
	if len(dialed) != 2 {
		t.Fatalf("dialed %v: only c2 and c3 have a peer to probe (c1 is self, the unnamed one never started)", dialed)
	}
}
