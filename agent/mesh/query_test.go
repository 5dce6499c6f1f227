package mesh

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestQueryRoundTrip(t *testing.T) {
	agents := startCluster(t, 3, Config{Keys: [][]byte{testKey(t)}})
	// node-2 registers nothing and so must stay silent.
	for _, a := range agents[:2] {
		name := a.cfg.NodeName
		if err := a.HandleQuery("echo", func(p []byte) ([]byte, error) {
			return append([]byte(name+":"), p...), nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := agents[2].Query(t.Context(), "echo", []byte("hi"), nil, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("answers from %d agents, want 2: %q", len(got), got)
	}
	for _, a := range agents[:2] {
		want := []byte(a.cfg.NodeName + ":hi")
		r := got[a.cfg.NodeName]
		if !bytes.Equal(r.Payload, want) {
			t.Errorf("%s answered %q, want %q", a.cfg.NodeName, r.Payload, want)
		}
		if r.Sent.IsZero() || r.At.Before(r.Sent) {
			t.Errorf("%s: answer times sent %v, at %v", a.cfg.NodeName, r.Sent, r.At)
		}
	}

	// Filtering restricts who answers.
	got, err = agents[2].Query(t.Context(), "echo", nil, []string{"node-1"}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["node-1"]; len(got) != 1 || !ok {
		t.Errorf("filtered query answered by %q, want only node-1", got)
	}
}

func TestQueryUnregisteredNameGetsNoAnswer(t *testing.T) {
	agents := startCluster(t, 3, Config{Keys: [][]byte{testKey(t)}})
	for _, a := range agents {
		if err := a.HandleQuery("registered", func([]byte) ([]byte, error) { return []byte("x"), nil }); err != nil {
			t.Fatal(err)
		}
	}
	got, err := agents[0].Query(t.Context(), "exec", []byte("rm -rf /"), nil, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("unregistered query answered by %q", got)
	}
}

func TestQueryOversizedResponseIsNotSent(t *testing.T) {
	agents := startCluster(t, 2, Config{Keys: [][]byte{testKey(t)}})
	if err := agents[1].HandleQuery("big", func([]byte) ([]byte, error) {
		return bytes.Repeat([]byte("x"), MaxQueryResponse+1), nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := agents[0].Query(t.Context(), "big", nil, nil, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("oversized answer delivered: %d bytes", len(got["node-1"].Payload))
	}
}

func TestQueryLargeResponseWithinLimit(t *testing.T) {
	// doctor --cluster answers are several KiB: they must arrive whole.
	agents := startCluster(t, 2, Config{Keys: [][]byte{testKey(t)}})
	big := bytes.Repeat([]byte("y"), MaxQueryResponse-512)
	if err := agents[1].HandleQuery("big", func([]byte) ([]byte, error) { return big, nil }); err != nil {
		t.Fatal(err)
	}
	got, err := agents[0].Query(t.Context(), "big", nil, nil, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got["node-1"].Payload, big) {
		t.Fatalf("large answer: got %d bytes, want %d", len(got["node-1"].Payload), len(big))
	}
}

func TestHandleQueryRejectsReservedNames(t *testing.T) {
	a := startAgent(t, Config{NodeName: "solo", Dev: true})
	ok := func([]byte) ([]byte, error) { return nil, nil }
	for _, name := range []string{"", "_serf_install-key"} {
		if err := a.HandleQuery(name, ok); err == nil {
			t.Errorf("HandleQuery(%q) accepted", name)
		}
	}
	if err := a.HandleQuery("fine", nil); err == nil {
		t.Error("nil handler accepted")
	}
}

func TestConcurrentQueriesAllGetAnswers(t *testing.T) {
	// Regression: serf gives concurrent queries the same Lamport time, and
	// answers to one were dropped as belonging to the other.
	agents := startCluster(t, 3, Config{Keys: [][]byte{testKey(t)}})
	names := []string{"q1", "q2", "q3", "q4"}
	for _, a := range agents {
		for _, n := range names {
			if err := a.HandleQuery(n, func([]byte) ([]byte, error) { return []byte(n), nil }); err != nil {
				t.Fatal(err)
			}
		}
	}
	for round := range 5 {
		got := make([]map[string]Response, len(names))
		var wg sync.WaitGroup
		for i, n := range names {
			wg.Go(func() {
				r, err := agents[0].Query(t.Context(), n, nil, nil, 2*time.Second)
				if err != nil {
					t.Error(err)
				}
				got[i] = r
			})
		}
		wg.Wait()
		for i, n := range names {
			if len(got[i]) != 3 {
				t.Fatalf("round %d: query %s answered by %d of 3 agents", round, n, len(got[i]))
			}
			for from, r := range got[i] {
				if string(r.Payload) != n {
					t.Errorf("query %s got %q from %s", n, r.Payload, from)
				}
			}
		}
	}
}

func TestQueryUntilReturnsOnceAllAnswered(t *testing.T) {
	agents := startCluster(t, 3, Config{Keys: [][]byte{testKey(t)}})
	for _, a := range agents {
		if err := a.HandleQuery("fast", func([]byte) ([]byte, error) { return []byte("x"), nil }); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	got, err := agents[0].QueryUntil(t.Context(), "fast", nil, nil, time.Minute, 3)
	if err != nil {
		t.Fatal(err)
	}
	// The timeout is a minute: returning at all proves it did not wait for it.
	if len(got) != 3 || time.Since(start) > 30*time.Second {
		t.Fatalf("%d answers after %v", len(got), time.Since(start))
	}
}

// Queries issued while the tags change: serf.Query reads the local node's
// address fields that SetTags rewrites, unlocked; the mesh takes them in
// turns (a race under -race otherwise, first seen with the continuous
// cluster evaluation).
func TestQueriesAndTagChangesDoNotRace(t *testing.T) {
	a := startAgent(t, Config{NodeName: "solo", Keys: [][]byte{testKey(t)}})
	if err := a.HandleQuery("ping", func([]byte) ([]byte, error) { return []byte("pong"), nil }); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			if err := a.SetTags(map[string]string{"g": strconv.Itoa(i)}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 50 {
		if _, err := a.QueryUntil(context.Background(), "ping", nil, nil, 200*time.Millisecond, 1); err != nil {
			t.Fatal(err)
		}
	}
	<-done
}

// A member silent at half the timeout (its answer lost: here its handler
// fails once) is asked again, alone, and its second answer counts; a
// query with no expected count is never asked again.
func TestQueryUntilAsksTheSilentAgain(t *testing.T) {
	agents := startCluster(t, 3, Config{Keys: [][]byte{testKey(t)}})
	var mu sync.Mutex
	calls := map[string]int{}
	for _, a := range agents {
		name := a.cfg.NodeName
		if err := a.HandleQuery("flaky", func([]byte) ([]byte, error) {
			mu.Lock()
			defer mu.Unlock()
			calls[name]++
			if name == "node-2" && calls[name] == 1 {
				return nil, errors.New("first answer lost")
			}
			return []byte(name), nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := agents[0].QueryUntil(t.Context(), "flaky", nil, nil, 4*time.Second, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || string(got["node-2"].Payload) != "node-2" {
		t.Fatalf("answers %q, want all 3 with node-2's second", got)
	}
	mu.Lock()
	if calls["node-2"] != 2 || calls["node-1"] != 1 || calls["node-0"] != 1 {
		t.Errorf("handler calls %v: want node-2 asked twice, the others once", calls)
	}
	mu.Unlock()
	if n := agents[0].Stats().QueriesReasked; n != 1 {
		t.Errorf("QueriesReasked = %d, want 1", n)
	}

	calls = map[string]int{}
	got, err = agents[0].Query(t.Context(), "flaky", nil, nil, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["node-2"]; ok || len(got) != 2 || agents[0].Stats().QueriesReasked != 1 {
		t.Errorf("query without a count: answers %q, reasked %d; want node-2 silent, no re-ask", got, agents[0].Stats().QueriesReasked)
	}
}

// Many members silent at half the timeout are slow, not lost: they are
// not asked again (a second ask would make each of them work and answer
// twice, relayed), and their answers before the deadline count.
func TestQueryUntilWaitsForManySlowMembers(t *testing.T) {
	const n, timeout = 5, 4 * time.Second
	agents := startCluster(t, n, Config{Keys: [][]byte{testKey(t)}})
	var mu sync.Mutex
	calls := map[string]int{}
	for i, a := range agents {
		name := a.cfg.NodeName
		if err := a.HandleQuery("slow", func([]byte) ([]byte, error) {
			mu.Lock()
			calls[name]++
			mu.Unlock()
			if i > 0 { // every member but the asker: past half the timeout
				time.Sleep(timeout * 6 / 10)
			}
			return []byte(name), nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if silent := n - 1; silent <= reaskLimit(n) {
		t.Fatalf("test needs more than %d slow members, has %d", reaskLimit(n), silent)
	}
	got, err := agents[0].QueryUntil(t.Context(), "slow", nil, nil, timeout, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("answers from %d members, want %d", len(got), n)
	}
	if r := agents[0].Stats().QueriesReasked; r != 0 {
		t.Errorf("QueriesReasked = %d, want 0: %d slow members are over the limit of %d", r, n-1, reaskLimit(n))
	}
	mu.Lock()
	defer mu.Unlock()
	for name, c := range calls {
		if c != 1 {
			t.Errorf("%s answered %d times, want once", name, c)
		}
	}
}

// TestSpreadAnswerPausesFirst: a spread handler runs after the drawn pause
// (bounded by the spread and by a quarter of the time the query has left);
// a plain handler, and any handler when the spread is zero, runs at once.
func TestSpreadAnswerPausesFirst(t *testing.T) {
	const pause = 300 * time.Millisecond
	var mu sync.Mutex
	var limits []time.Duration
	draw := func(limit time.Duration) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		limits = append(limits, limit)
		return pause
	}
	agents := startCluster(t, 2, Config{Keys: [][]byte{testKey(t)}, answerSpread: 2 * time.Second, answerPause: draw})
	var ranAt time.Time
	if err := agents[1].HandleQuerySpread("work", func([]byte) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		ranAt = time.Now()
		return []byte("done"), nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := agents[1].HandleQuery("clock", func([]byte) ([]byte, error) { return []byte("now"), nil }); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	got, err := agents[0].QueryUntil(t.Context(), "work", nil, []string{"node-1"}, 4*time.Second, 1)
	if err != nil {
		t.Fatal(err)
	}
	if string(got["node-1"].Payload) != "done" {
		t.Fatalf("answers %q, want node-1's", got)
	}
	mu.Lock()
	if ranAt.Sub(sent) < pause {
		t.Errorf("spread handler ran %v after the query, before its %v pause", ranAt.Sub(sent), pause)
	}
	// The spread is 2 s but a quarter of the (at most 4 s) left is less.
	if len(limits) != 1 || limits[0] <= 0 || limits[0] > time.Second {
		t.Errorf("pause limits %v, want one in (0, 1s]", limits)
	}
	mu.Unlock()

	if _, err := agents[0].QueryUntil(t.Context(), "clock", nil, []string{"node-1"}, 4*time.Second, 1); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(limits) != 1 {
		t.Errorf("a plain handler drew a pause: limits %v", limits)
	}
	mu.Unlock()
}

// TestSpreadAnswerSmallClusterAtOnce: with the profile's spread for a small
// cluster (zero) a spread handler draws no pause.
func TestSpreadAnswerSmallClusterAtOnce(t *testing.T) {
	drawn := make(chan time.Duration, 1)
	agents := startCluster(t, 2, Config{Keys: [][]byte{testKey(t)}, Hosts: 5, answerPause: func(l time.Duration) time.Duration {
		drawn <- l
		return 0
	}})
	if err := agents[1].HandleQuerySpread("work", func([]byte) ([]byte, error) { return []byte("done"), nil }); err != nil {
		t.Fatal(err)
	}
	got, err := agents[0].QueryUntil(t.Context(), "work", nil, []string{"node-1"}, 4*time.Second, 1)
	if err != nil || string(got["node-1"].Payload) != "done" {
		t.Fatalf("answers %q, %v; want node-1's", got, err)
	}
	select {
	case l := <-drawn:
		t.Errorf("a 5-host cluster drew a pause (limit %v)", l)
	default:
	}
}
