package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kuma-agent/kuma-agent/internal/alerts"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/natsbus"
)

// eventsEnv is an embedded NATS server with the events stream, a few
// events in it, and an agent.yaml pointing at it (and at inventory, if set)
// as the agent of core-1.x leaves it: the server knows core-1.x's
// identities, and the reader's credentials are in the state directory.
// js is the test's own unrestricted user, which publishes as any node.
func eventsEnv(t *testing.T, inventory string) (cfgPath string, js jetstream.JetStream) {
	t.Helper()
	const node = "core-1.x"
	key := natsbus.NodeKey([]byte("cluster-secret"), node)
	publisher := natsbus.Identity{User: "test-publisher", Password: "publisher-secret"}
	srv, err := natsbus.StartServer(natsbus.ServerOptions{Name: "t", Port: -1, StoreDir: t.TempDir(),
		Users: append(natsbus.NodeUsers(key, natsbus.Scope{Cluster: "kuma", Node: node}), natsbus.User{Identity: publisher})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	stateDir := t.TempDir()
	if err := natsbus.WriteIdentityFile(filepath.Join(stateDir, natsbus.ReaderIdentityFile), natsbus.IdentityOf(key, node, natsbus.RoleReader)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	nc, err := natsbus.Connect(ctx, natsbus.ClientOptions{URL: srv.ClientURL(), User: publisher.User, Password: publisher.Password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ = jetstream.New(nc)
	if _, err := natsbus.EnsureStream(ctx, js, natsbus.StreamOptions{Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i, ev := range []struct {
		node string
		t    events.Type
		sev  events.Severity
		data any
	}{
		{"core-1.x", events.AgentStarted, events.SeverityInfo, events.AgentData{Version: "1"}},
		{"core-1.x", events.MemberFailed, events.SeverityCritical, events.MemberData{Member: "core-3.x", Status: "failed"}},
		{"core-2.x", events.CheckStatusChanged, events.SeverityWarning, events.CheckData{Check: "ntp", From: "ok", To: "warn", Message: "offset\n150ms"}},
	} {
		e, err := events.New("kuma", ev.node, ev.t, "s", ev.sev, ev.data, now.Add(time.Duration(i)*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if err := natsbus.Publish(ctx, js, e); err != nil {
			t.Fatal(err)
		}
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.ClientURL(), "nats://"))
	cfgPath = writeConfig(t, func(c *config.Config) {
		c.StateDir = stateDir
		c.Events.Embedded.Host = "127.0.0.1"
		c.Events.Embedded.Port, _ = strconv.Atoi(port)
		c.Inventory = inventory
	})
	return cfgPath, js
}

// TestEventsCommandNeedsTheReaderCredentials: without the credentials the
// agent writes, `events` says where they should be and why they are not.
func TestEventsCommandNeedsTheReaderCredentials(t *testing.T) {
	cfgPath, _ := eventsEnv(t, "")
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(cfg.StateDir, natsbus.ReaderIdentityFile)
	if err := os.Remove(creds); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"events", "--config", cfgPath}, &out, &errb); code == 0 ||
		!strings.Contains(errb.String(), creds) || !strings.Contains(errb.String(), "is it running?") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

// TestAlertsCommandDropsForgedEvents: a member.failed "from" core-2.x that
// arrives on core-1.x's subject (only an unrestricted user can publish it
// there: core-1.x's agent may not claim another node) runs no action; the
// genuine one after it does.
func TestAlertsCommandDropsForgedEvents(t *testing.T) {
	cfgPath, js := eventsEnv(t, "")
	dir := t.TempDir()
	got := filepath.Join(dir, "got.jsonl")
	acfg := filepath.Join(dir, "alerts.yaml")
	if err := os.WriteFile(acfg, []byte(`durable: forged-test
rules:
  - name: failures
    match: {types: [member.failed]}
    actions: [record]
actions:
  record: {type: command, command: ["/bin/sh", "-c", "cat >> `+got+`; echo >> `+got+`"], timeout: 5s}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- dispatch(ctx, []string{"alerts", "--config", acfg, "--agent-config", cfgPath}, io.Discard, &errb)
	}()
	waitFor(t, "the durable consumer", func() bool {
		_, err := js.Consumer(ctx, natsbus.DefaultStreamName, "forged-test")
		return err == nil
	})
	forged, _ := events.New("kuma", "core-2.x", events.MemberFailed, "core-3.x", events.SeverityCritical, events.MemberData{Member: "core-3.x", Status: "failed"}, time.Now())
	m, err := natsbus.Msg(forged)
	if err != nil {
		t.Fatal(err)
	}
	m.Subject = events.Subject("kuma", "core-1.x", events.MemberFailed)
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	genuine, _ := events.New("kuma", "core-1.x", events.MemberFailed, "core-3.x", events.SeverityCritical, events.MemberData{Member: "core-3.x", Status: "failed"}, time.Now())
	if err := natsbus.Publish(ctx, js, genuine); err != nil {
		t.Fatal(err)
	}
	var b []byte
	waitFor(t, "the genuine event alerted", func() bool {
		b, _ = os.ReadFile(got)
		return strings.Contains(string(b), genuine.ID)
	})
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("alerts exit %d: %s", code, errb.String())
	}
	if strings.Contains(string(b), forged.ID) || strings.Count(strings.TrimSpace(string(b)), "\n") != 0 {
		t.Fatalf("the command got %q; want only the genuine event %s", b, genuine.ID)
	}
	if !strings.Contains(errb.String(), "forged event dropped") || !strings.Contains(errb.String(), forged.ID) {
		t.Errorf("the forgery is not logged: %s", errb.String())
	}
}

func TestEventsCommand(t *testing.T) {
	cfgPath, _ := eventsEnv(t, "")
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), []string{"events", "--config", cfgPath, "--format", "json"}, &out, &errb)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("exit %d, %d lines: %s %s", code, len(lines), out.String(), errb.String())
	}
	var e events.Event
	if err := json.Unmarshal([]byte(lines[1]), &e); err != nil || e.ShortType() != events.MemberFailed || e.Validate() != nil {
		t.Errorf("second event: %+v %v", e, err)
	}

	out.Reset()
	code = dispatch(context.Background(), []string{"events", "--config", cfgPath, "--type", "member.failed,check.status_changed", "--node", "core-2.x"}, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "check.status_changed") || strings.Contains(out.String(), "member.failed") ||
		!strings.Contains(out.String(), "message=offset 150ms") {
		t.Errorf("filtered table: exit %d\n%s", code, out.String())
	}

	out.Reset()
	code = dispatch(context.Background(), []string{"events", "--config", cfgPath, "--since", "1h", "--format", "json", "--type", "agent.started"}, &out, &errb)
	if code != 0 || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("since: exit %d %q", code, out.String())
	}
	for _, bad := range [][]string{{"--since", "yesterday"}, {"--format", "xml"}, {"--type", "a b"}} {
		if code := dispatch(context.Background(), append([]string{"events", "--config", cfgPath}, bad...), &out, &errb); code != 2 {
			t.Errorf("%v: exit %d", bad, code)
		}
	}
}

func TestAlertsCommandRunsActionsOnLiveEvents(t *testing.T) {
	cfgPath, js := eventsEnv(t, "")
	dir := t.TempDir()
	got := filepath.Join(dir, "got.json")
	acfg := filepath.Join(dir, "alerts.yaml")
	os.WriteFile(acfg, []byte(`rules:
  - name: failures
    match: {types: [member.failed]}
    actions: [record]
actions:
  record: {type: command, command: ["/usr/bin/tee", "`+got+`"], timeout: 5s}
`), 0o600)
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"alerts", "--config", acfg, "--check"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "1 rules, 1 actions") {
		t.Fatalf("--check: %d %s %s", code, out.String(), errb.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- dispatch(ctx, []string{"alerts", "--config", acfg, "--agent-config", cfgPath}, &out, &errb)
	}()
	time.Sleep(500 * time.Millisecond) // the stored failure is older than the start: not alerted
	e, _ := events.New("kuma", "core-2.x", events.MemberFailed, "core-1.x", events.SeverityCritical, events.MemberData{Member: "core-1.x", Status: "failed"}, time.Now())
	if err := natsbus.Publish(context.Background(), js, e); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var b []byte
	for time.Now().Before(deadline) {
		if b, _ = os.ReadFile(got); len(b) > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("alerts exit %d: %s", code, errb.String())
	}
	var recv events.Event
	if err := json.Unmarshal(b, &recv); err != nil || recv.ID != e.ID {
		t.Fatalf("the command got %q (%v), want event %s", b, err, e.ID)
	}
	if code := dispatch(context.Background(), []string{"alerts", "--config", filepath.Join(dir, "missing.yaml")}, &out, &errb); code != 2 {
		t.Errorf("missing config: exit %d", code)
	}

	// --status: the durable consumer the run made, as JSON (a single
	// server: no leader, no replicas).
	out.Reset()
	host, _ := os.Hostname()
	code := dispatch(context.Background(), []string{"alerts", "--config", acfg, "--agent-config", cfgPath, "--status"}, &out, &errb)
	var st consumerStatus
	if err := json.Unmarshal(out.Bytes(), &st); code != 0 || err != nil || st.Durable != alerts.DefaultDurable(host) || st.Stream != natsbus.DefaultStreamName {
		t.Fatalf("--status: exit %d, %+v (%v): %s %s", code, st, err, out.String(), errb.String())
	}
	other := filepath.Join(dir, "other.yaml")
	os.WriteFile(other, []byte("durable: never-ran\nrules: [{name: r, match: {}, actions: [l]}]\nactions: {l: {type: log}}\n"), 0o600)
	errb.Reset()
	if code := dispatch(context.Background(), []string{"alerts", "--config", other, "--agent-config", cfgPath, "--status"}, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "no durable consumer never-ran") {
		t.Errorf("--status without a consumer: exit %d: %s", code, errb.String())
	}
}

// TestAlertsCommandResumesAfterRestart: `kuma-agent alerts` reads with a
// durable consumer. Events published while it is stopped are alerted when
// it starts again; those alerted before are not alerted again.
func TestAlertsCommandResumesAfterRestart(t *testing.T) {
	cfgPath, js := eventsEnv(t, "")
	dir := t.TempDir()
	got := filepath.Join(dir, "got.jsonl")
	acfg := filepath.Join(dir, "alerts.yaml")
	if err := os.WriteFile(acfg, []byte(`durable: restart-test
rules:
  - name: failures
    match: {types: [member.failed]}
    actions: [record]
actions:
  record: {type: command, command: ["/bin/sh", "-c", "cat >> `+got+`; echo >> `+got+`"], timeout: 5s}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var errb bytes.Buffer
	start := func() (stop func()) {
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan int, 1)
		go func() {
			done <- dispatch(rctx, []string{"alerts", "--config", acfg, "--agent-config", cfgPath}, io.Discard, &errb)
		}()
		// The consumer exists once the subscriber reads.
		waitFor(t, "the durable consumer", func() bool {
			_, err := js.Consumer(ctx, natsbus.DefaultStreamName, "restart-test")
			return err == nil
		})
		return func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("alerts exit %d: %s", code, errb.String())
			}
		}
	}
	publish := func(n int) []string {
		var ids []string
		for range n {
			e, _ := events.New("kuma", "core-2.x", events.MemberFailed, "core-1.x", events.SeverityCritical,
				events.MemberData{Member: "core-1.x", Status: "failed"}, time.Now())
			if err := natsbus.Publish(ctx, js, e); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, e.ID)
		}
		return ids
	}
	recorded := func() []string {
		b, _ := os.ReadFile(got)
		var ids []string
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var e events.Event
			if json.Unmarshal([]byte(line), &e) == nil {
				ids = append(ids, e.ID)
			}
		}
		return ids
	}
	// settled: everything the consumer got is acknowledged.
	settled := func() bool {
		c, err := js.Consumer(ctx, natsbus.DefaultStreamName, "restart-test")
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}

	stop := start()
	first := publish(2)
	waitFor(t, "the first events alerted and acknowledged", func() bool { return len(recorded()) == 2 && settled() })
	stop()

	missed := publish(3) // nobody is subscribed
	stop = start()
	waitFor(t, "the missed events alerted and acknowledged", func() bool { return len(recorded()) >= 5 && settled() })
	stop()
	// Each once. The first two in any order: while the live subscription
	// is being made, the first event can come by the durable path alone
	// and the second by the live one before it (no order across the two
	// paths). The missed ones in order: only the durable path has them.
	r := recorded()
	if len(r) != 5 {
		t.Fatalf("alerted %v, want each of %v and then %v once", r, first, missed)
	}
	gotFirst := slices.Clone(r[:2])
	slices.Sort(gotFirst)
	wantFirst := slices.Clone(first)
	slices.Sort(wantFirst)
	if !slices.Equal(gotFirst, wantFirst) || !slices.Equal(r[2:], missed) {
		t.Fatalf("alerted %v,\nwant each of %v once, then %v in order", r, first, missed)
	}
}

// waitFor polls cond (a test deadline, not a measurement).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkColumns fails unless every line's columns start where the header's
// do (two spaces before each).
func checkColumns(t *testing.T, out string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	var starts []int
	for _, h := range eventHeader[1:] {
		starts = append(starts, strings.Index(lines[0], "  "+h)+2)
	}
	for _, l := range lines[1:] {
		for i, s := range starts {
			if len(l) <= s && i == len(starts)-1 {
				continue // no DATA
			}
			if len(l) <= s || l[s-2:s] != "  " || l[s] == ' ' {
				t.Errorf("column %s does not start at %d in\n%s\n%s", eventHeader[i+1], s, lines[0], l)
			}
		}
	}
}

// TestEventsFollowColumnsAlign: followed, each row is printed on its own,
// in columns as wide as the inventory's longest node name.
func TestEventsFollowColumnsAlign(t *testing.T) {
	long := "a-much-longer-node-name.example.com"
	inv := filepath.Join(t.TempDir(), "inventory.yml")
	if err := os.WriteFile(inv, []byte(`kuma:
  children:
    kuma_collector:
      hosts:
        core-1.x: {ansible_host: 127.0.0.1}
        core-2.x: {ansible_host: 127.0.0.2}
        `+long+`: {ansible_host: 127.0.0.3}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath, js := eventsEnv(t, inv)
	publish := func(node string) {
		e, _ := events.New("kuma", node, events.MemberJoined, "core-1.x", events.SeverityInfo, events.MemberData{Member: "core-1.x", Status: "alive"}, time.Now())
		if err := natsbus.Publish(context.Background(), js, e); err != nil {
			t.Fatal(err)
		}
	}
	publish(long)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		code := dispatch(ctx, []string{"events", "--config", cfgPath, "--follow", "--since", "1h"}, pw, &errb)
		pw.Close()
		done <- code
	}()
	stuck := time.AfterFunc(20*time.Second, func() { pr.CloseWithError(errors.New("no row within 20s")) })
	defer stuck.Stop()
	sc := bufio.NewScanner(pr)
	var lines []string
	read := func(n int) {
		for range n {
			if !sc.Scan() {
				t.Fatalf("after %q: %v", lines, sc.Err())
			}
			lines = append(lines, sc.Text())
		}
	}
	read(5)             // the header and the 4 stored events
	publish("core-2.x") // a live one, printed on its own
	read(1)
	cancel()
	go io.Copy(io.Discard, pr)
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	out := strings.Join(lines, "\n")
	checkColumns(t, out)
	if !strings.Contains(out, "  "+long+"  member.joined") {
		t.Errorf("the long node name is not in its column:\n%s", out)
	}
}

// Without an inventory the follow table's node columns have a default
// width that names of usual lengths fit.
func TestFollowTableDefaultWidth(t *testing.T) {
	var b bytes.Buffer
	ft := newFollowTable(&b, nil)
	ft.row(eventHeader)
	for _, node := range []string{"core-1.x", "kuma-core-10.example.com"} {
		ft.row([]string{"2026-11-23 10:00:00.000", node, "member.failed", "critical", "core-3.x", "member=core-3.x"})
	}
	checkColumns(t, b.String())
}
