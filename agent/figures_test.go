package agent

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/natsbus"
)

// TestFigureEventLatency measures the time from a check's status change (the
// agent's change callback) to a subscriber's receipt: outbox append, drain,
// JetStream (3 clustered embedded servers, R3 stream), ordered consumer.
//
//	KUMA_FIG_EVENT_LATENCY=1 go test -count=1 -run TestFigureEventLatency -v ./agent/
func TestFigureEventLatency(t *testing.T) {
	if os.Getenv("KUMA_FIG_EVENT_LATENCY") == "" {
		t.Skip("figure: set KUMA_FIG_EVENT_LATENCY=1")
	}
	tc := startCluster(t, nil)
	n1 := tc.nodes["core-1.test.local"]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	js := n1.jetStream(t, ctx)
	eventually(t, "the stream takes events", 60*time.Second, func() bool {
		got := false
		rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
		defer rcancel()
		_ = natsbus.Read(rctx, js, natsbus.DefaultStreamName, natsbus.Query{Types: []events.Type{events.AgentStarted}, Node: "core-1.test.local"},
			func(events.Event) error { got = true; return nil })
		return got
	})
	const n = 2000
	lat := make(chan time.Duration, n)
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	go natsbus.Read(fctx, js, natsbus.DefaultStreamName, natsbus.Query{Types: []events.Type{events.CheckStatusChanged}, Node: "core-1.test.local",
		Since: time.Now(), Follow: true}, func(e events.Event) error {
		if e.Subject == "figure" {
			lat <- time.Since(e.Time)
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond)
	a := n1.agent
	prev := checks.Outcome{Check: "figure", Result: checks.Okf("ok")}
	for i := range n {
		cur := checks.Outcome{Check: "figure", Result: checks.Critf("flap "+strconv.Itoa(i), "")}
		if i%2 == 1 {
			cur.Result = checks.Okf("ok")
		}
		a.onCheckChange(&prev, cur)
		prev = cur
		time.Sleep(time.Millisecond) // a flapping check, not a burst
	}
	var ds []time.Duration
	for len(ds) < n {
		select {
		case d := <-lat:
			ds = append(ds, d)
		case <-time.After(30 * time.Second):
			t.Fatalf("only %d of %d events arrived", len(ds), n)
		}
	}
	slices.Sort(ds)
	t.Logf("FIGURE check change -> subscriber: n=%d p50=%v p99=%v max=%v", n, ds[n/2], ds[n*99/100], ds[n-1])
}
