package agent

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kuma-agent/kuma-agent/events"
	"github.com/kuma-agent/kuma-agent/natsbus"
)

// TestEventsFlowOnNATS: three agents with their embedded NATS servers
// clustered (JetStream R3). Every agent's start and check results are in the
// stream; when one agent dies, the others announce it as member.failed, and
// the stream keeps working on the two servers left.
func TestEventsFlowOnNATS(t *testing.T) {
	tc := startCluster(t, nil)
	n1 := tc.nodes["core-1.test.local"]
	eventually(t, "3 alive", 20*time.Second, func() bool {
		alive := 0
		for _, m := range n1.members(t) {
			if m.Status == "alive" {
				alive++
			}
		}
		return alive == 3
	})
	url := "nats://" + net.JoinHostPort(n1.cfg.Events.Embedded.Host, strconv.Itoa(n1.cfg.Events.Embedded.Port))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nc, err := natsbus.Connect(ctx, natsbus.ClientOptions{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	// History: every agent has published agent.started and its check results.
	eventually(t, "agent.started from all three", 30*time.Second, func() bool {
		var seen []string
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		defer rcancel()
		_ = natsbus.Read(rctx, js, natsbus.DefaultStreamName, natsbus.Query{Types: []events.Type{events.AgentStarted}}, func(e events.Event) error {
			if !slices.Contains(seen, e.Node()) {
				seen = append(seen, e.Node())
			}
			return nil
		})
		return len(seen) == 3
	})

	// Live: follow member.failed while core-3's agent dies.
	failed := make(chan events.Event, 4)
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	go func() {
		err := natsbus.Read(fctx, js, natsbus.DefaultStreamName,
			natsbus.Query{Types: []events.Type{events.MemberFailed}, Since: time.Now(), Follow: true},
			func(e events.Event) error { failed <- e; return nil })
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Error(err)
		}
	}()
	time.Sleep(300 * time.Millisecond) // the consumer is in place
	tc.nodes["core-3.test.local"].stop(t)
	select {
	case e := <-failed:
		if e.Subject != "core-3.test.local" || e.Severity != events.SeverityCritical || e.Node() == "core-3.test.local" {
			t.Errorf("failure event: %+v", e)
		}
		if err := e.Validate(); err != nil {
			t.Error(err)
		}
	case <-ctx.Done():
		t.Fatal("no member.failed event for core-3 on NATS")
	}
}
