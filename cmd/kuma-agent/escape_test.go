package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/supervisor"
)

// The finding's names: one forges a row of `kuma-agent members` and
// colours the terminal, one carries a command substitution.
const (
	forger  = "x\x1b[31mRED\nc9.lab.lan  127.0.201.9  alive  core  ok"
	shelled = "evil'$(touch /tmp/x)'"
)

const forgerEscaped = `x\x1b[31mRED\nc9.lab.lan  127.0.201.9  alive  core  ok`

// fakeAgent answers the control socket's operations with fixed answers;
// the config it returns points at it.
func fakeAgent(t *testing.T, answers map[string]any) string {
	t.Helper()
	handlers := map[string]control.Handler{}
	for op, ans := range answers {
		handlers[op] = func(context.Context, json.RawMessage) (any, error) { return ans, nil }
	}
	return fakeAgentHandlers(t, handlers)
}

// fakeAgentHandlers is fakeAgent with handlers that read their arguments.
func fakeAgentHandlers(t *testing.T, handlers map[string]control.Handler) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "control.sock")
	serveHandlers(t, sock, handlers)
	return writeConfig(t, func(c *config.Config) { c.Agent.ControlSocket = sock })
}

// assertEscaped: no raw control character reached the output, it has the
// lines it should (no forged row), and the names show escaped.
func assertEscaped(t *testing.T, what, out string, lines int, want ...string) {
	t.Helper()
	if strings.ContainsAny(out, "\x1b\r\x00") {
		t.Errorf("%s: control characters in the output:\n%q", what, out)
	}
	if n := strings.Count(out, "\n"); n != lines {
		t.Errorf("%s: %d lines, want %d:\n%s", what, n, lines, out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s: output lacks %q:\n%s", what, w, out)
		}
	}
}

// Finding 3: members and events printed names raw. Every renderer escapes
// through safetext.Escape.
func TestEveryNameIsPrintedEscaped(t *testing.T) {
	cfg := fakeAgent(t, map[string]any{
		control.OpMembers: []control.MemberInfo{
			{Name: "c1.lab.lan", Addr: "127.0.201.1", Status: "alive", Roles: []string{"core"}, Health: "ok"},
			{Name: forger, Addr: "127.0.201.66", Status: "alive", Roles: []string{"core\x1b[0m"}, Health: "ok", Failing: []string{"ports\n"},
				Ignored: "member " + forgerEscaped + " is not in the inventory; ignored for every decision"}, // as the agent escapes it
			{Name: shelled, Addr: "127.0.201.67", Status: "failed", Roles: []string{}, Health: "unknown", TagsError: "bad\ntags\x1b[2J"},
		},
		control.OpUnits: control.UnitsReport{Raft: "out\x1b[0m", Units: []supervisor.UnitStatus{
			{Unit: "kuma-core-\x1b[31m.service\nfake  row", Group: supervisor.GroupRaft, Condition: "failed", Active: "failed", Sub: "failed",
				Refusal: "no Raft leader\x1b[2J\nforged"},
		}},
		control.OpClusterDoctor: control.ClusterReport{
			Self:    "c1.lab.lan",
			Members: []control.MemberInfo{{Name: forger, Roles: []string{"core\n"}}},
			Nodes: []clusterchecks.DoctorReply{{Host: forger, Findings: []clusterchecks.FindingWire{
				clusterchecks.FindingOf("ntp\x1b[31m", checks.AreaTime, checks.Result{Status: checks.Warn, Message: "offset\x1b[31m 1s", Details: []string{"d\x07"}, Remedy: "fix\x1b[0m"}),
			}}},
			Unanswered: []string{shelled, "z\nforged"},
			Cluster: []clusterchecks.NamedResult{{Name: "cluster-members", Result: checks.Result{Status: checks.Warn,
				Message: "not in the inventory (ignored for every decision): " + forgerEscaped, Remedy: "x\nforged"}}},
			Status: checks.Warn,
		},
	})

	_, out, errOut := run(context.Background(), "members", "--config", cfg)
	// header, 3 members, 1 note for the ignored member
	assertEscaped(t, "members", out, 5, forgerEscaped+" (!)", shelled, `core\x1b[0m`, `ok (ports\n)`, `? (bad tags\x1b[2J)`,
		"(!) member "+forgerEscaped+" is not in the inventory; ignored for every decision")
	if errOut != "" {
		t.Errorf("members: stderr %q", errOut)
	}

	_, out, _ = run(context.Background(), "units", "--config", cfg)
	assertEscaped(t, "units", out, 3, `kuma-core-\x1b[31m.service\nfake  row`, `refused: no Raft leader\x1b[2J forged`, `KUMA Core Raft state: out\x1b[0m`)

	for _, format := range []string{"table", "nagios"} {
		_, out, _ = run(context.Background(), "doctor", "--cluster", "--format", format, "--config", cfg)
		if strings.ContainsAny(out, "\x1b\r\x07") {
			t.Errorf("doctor --cluster --format %s: control characters:\n%q", format, out)
		}
		for _, w := range []string{forgerEscaped, shelled, `z\nforged`, `ntp\x1b[31m`} {
			if !strings.Contains(out, w) {
				t.Errorf("doctor --cluster --format %s lacks %q:\n%s", format, w, out)
			}
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "c9.lab.lan") || strings.HasPrefix(l, "forged") || strings.HasPrefix(l, "fake") {
				t.Errorf("doctor --cluster --format %s: a forged line %q", format, l)
			}
		}
	}
}

func TestEventRowsAreEscaped(t *testing.T) {
	e := events.Event{SpecVersion: "1.0", Type: events.TypePrefix + "member.failed\x1b[31m", Source: "kuma-agent/lab/" + forger,
		Subject: shelled + "\n", Time: time.Unix(0, 0), Data: json.RawMessage(`{"member":"a\u001b[2Jb\nc"}`)}
	row := eventRow(e)
	var b strings.Builder
	if err := fittedTable(&b, [][]string{eventHeader, row}).rows([][]string{eventHeader, row}); err != nil {
		t.Fatal(err)
	}
	assertEscaped(t, "events", b.String(), 2, forgerEscaped, `member.failed\x1b[31m`, shelled+`\n`, `member=a\x1b[2Jb c`)
	if row := eventRow(events.Event{Data: json.RawMessage("not json \x1b[2J\n")}); strings.ContainsAny(row[5], "\x1b\n") {
		t.Errorf("raw data cell %q", row[5])
	}
}
