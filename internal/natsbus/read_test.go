package natsbus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

func TestReadFilters(t *testing.T) {
	s := startTestServer(t, ServerOptions{Name: "n1"})
	_, js := connectTest(t, s.ClientURL())
	ctx := ctxT(t, 60*time.Second)
	if _, err := EnsureStream(ctx, js, StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	type sent struct {
		cluster, node string
		typ           events.Type
	}
	early := []sent{
		{"prod", "core-1.example.com", events.CheckStatusChanged},
		{"prod", "core-2.example.com", events.MemberFailed},
		{"test", "core-1.example.com", events.MemberFailed},
	}
	late := []sent{
		{"prod", "core-1.example.com", events.MemberFailed},
		{"prod", "core-2.example.com", events.CheckStatusChanged},
	}
	publish := func(list []sent) {
		for i, x := range list {
			if err := Publish(ctx, js, testEvent(t, x.cluster, x.node, x.typ, i, time.Now())); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(early)
	// Since filters on the server's store time; leave a gap around the mark.
	time.Sleep(50 * time.Millisecond)
	mark := time.Now()
	time.Sleep(50 * time.Millisecond)
	publish(late)
	// A message on a stream subject that is no event: skipped with a warning.
	if _, err := js.Publish(ctx, "kuma.prod.core-1_example_com.member.failed", []byte("{not json")); err != nil {
		t.Fatal(err)
	}

	count := func(q Query) map[string]int {
		got := map[string]int{}
		for _, e := range readAll(t, js, DefaultStreamName, q) {
			got[e.Source+" "+string(e.ShortType())]++
		}
		return got
	}
	cases := []struct {
		name string
		q    Query
		want map[string]int
	}{
		{"all", Query{}, map[string]int{
			"kuma-agent/prod/core-1.example.com check.status_changed": 1,
			"kuma-agent/prod/core-2.example.com member.failed":        1,
			"kuma-agent/test/core-1.example.com member.failed":        1,
			"kuma-agent/prod/core-1.example.com member.failed":        1,
			"kuma-agent/prod/core-2.example.com check.status_changed": 1,
		}},
		{"type", Query{Types: []events.Type{events.MemberFailed}}, map[string]int{
			"kuma-agent/prod/core-2.example.com member.failed": 1,
			"kuma-agent/test/core-1.example.com member.failed": 1,
			"kuma-agent/prod/core-1.example.com member.failed": 1,
		}},
		{"node", Query{Node: "core-1.example.com"}, map[string]int{
			"kuma-agent/prod/core-1.example.com check.status_changed": 1,
			"kuma-agent/test/core-1.example.com member.failed":        1,
			"kuma-agent/prod/core-1.example.com member.failed":        1,
		}},
		{"cluster+node+types", Query{Cluster: "prod", Node: "core-1.example.com",
			Types: []events.Type{events.MemberFailed, events.CheckStatusChanged}}, map[string]int{
			"kuma-agent/prod/core-1.example.com check.status_changed": 1,
			"kuma-agent/prod/core-1.example.com member.failed":        1,
		}},
		{"since", Query{Since: mark}, map[string]int{
			"kuma-agent/prod/core-1.example.com member.failed":        1,
			"kuma-agent/prod/core-2.example.com check.status_changed": 1,
		}},
		{"nothing matches", Query{Cluster: "staging"}, map[string]int{}},
	}
	for _, c := range cases {
		got := count(c.q)
		if len(got) != len(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			continue
		}
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("%s: got %v, want %v", c.name, got, c.want)
				break
			}
		}
	}

	var logs logBuffer
	readAll(t, js, DefaultStreamName, Query{Logger: logs.Logger()})
	if !logs.Contains("undecodable message skipped") || !logs.Contains("sequence=6") ||
		!logs.Contains("subject=kuma.prod.core-1_example_com.member.failed") {
		t.Errorf("no warning naming the malformed message's subject and sequence; log:\n%s", logs.String())
	}
}

func TestReadUnknownType(t *testing.T) {
	if _, err := (Query{Types: []events.Type{"member.exploded"}}).Subjects(); err == nil {
		t.Fatal("unknown type accepted")
	}
}

func TestReadStopsOnCallbackError(t *testing.T) {
	s := startTestServer(t, ServerOptions{Name: "n1"})
	_, js := connectTest(t, s.ClientURL())
	ctx := ctxT(t, 30*time.Second)
	if _, err := EnsureStream(ctx, js, StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := Publish(ctx, js, testEvent(t, "prod", "n", events.AgentStarted, i, time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	stop := errors.New("enough")
	calls := 0
	err := Read(ctx, js, DefaultStreamName, Query{Logger: quietLog}, func(events.Event) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Read = %v after %d calls, want the callback's error after 1", err, calls)
	}
}

func TestReadFollow(t *testing.T) {
	s := startTestServer(t, ServerOptions{Name: "n1"})
	_, js := connectTest(t, s.ClientURL())
	ctx := ctxT(t, 30*time.Second)
	if _, err := EnsureStream(ctx, js, StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	old := testEvent(t, "prod", "core-1", events.MemberFailed, 0, time.Now())
	if err := Publish(ctx, js, old); err != nil {
		t.Fatal(err)
	}
	followCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan events.Event, 10)
	done := make(chan error, 1)
	go func() {
		done <- Read(followCtx, js, DefaultStreamName, Query{Follow: true, Types: []events.Type{events.MemberFailed}, Logger: quietLog},
			func(e events.Event) error { got <- e; return nil })
	}()
	if e := <-got; e.ID != old.ID {
		t.Fatalf("first followed event %s, want the stored %s", e.ID, old.ID)
	}
	// Read has caught up; a non-matching and then a matching live event.
	if err := Publish(ctx, js, testEvent(t, "prod", "core-1", events.AgentStarted, 1, time.Now())); err != nil {
		t.Fatal(err)
	}
	live := testEvent(t, "prod", "core-1", events.MemberFailed, 2, time.Now())
	if err := Publish(ctx, js, live); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-got:
		if e.ID != live.ID {
			t.Fatalf("live event %s (%s), want %s", e.ID, e.Type, live.ID)
		}
	case <-ctx.Done():
		t.Fatal("live event never arrived while following")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Read(Follow) after cancel = %v, want nil", err)
	}
}
