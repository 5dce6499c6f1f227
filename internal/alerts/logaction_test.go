package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

func TestLogActionRecord(t *testing.T) {
	var buf bytes.Buffer
	cfg := &Config{QueueSize: 4, Rules: []Rule{{Name: "r", Actions: []string{"j"}}}, Actions: map[string]Action{"j": {Type: ActionLog}}}
	ev := mustEvent(t, "kuma-core-1.example.com", events.MemberFailed, events.SeverityCritical)
	if err := Run(context.Background(), cfg, sliceSource{ev}, slog.New(slog.NewJSONHandler(&buf, nil))); err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("one JSON record expected: %v\n%s", err, buf.String())
	}
	want := map[string]any{"level": "ERROR", "msg": "alert", "action": "j", "event_id": ev.ID, "type": "member.failed",
		"severity": "critical", "node": "kuma-core-1.example.com", "data": string(ev.Data)}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("%s = %v, want %v", k, rec[k], v)
		}
	}
}

type fakeSyslog struct {
	lines   []string
	failNow bool
	closed  int
}

func (f *fakeSyslog) write(prio string) func(string) error {
	return func(m string) error {
		if f.failNow {
			return errors.New("broken pipe")
		}
		f.lines = append(f.lines, prio+" "+m)
		return nil
	}
}
func (f *fakeSyslog) Crit(m string) error    { return f.write("crit")(m) }
func (f *fakeSyslog) Warning(m string) error { return f.write("warning")(m) }
func (f *fakeSyslog) Info(m string) error    { return f.write("info")(m) }
func (f *fakeSyslog) Close() error           { f.closed++; return nil }

func TestSyslogActionPriorityAndReconnect(t *testing.T) {
	fake := &fakeSyslog{}
	dials := 0
	s := &syslogAction{name: "sys", tag: "t", dial: func(tag string) (SyslogWriter, error) {
		dials++
		if tag != "t" {
			t.Errorf("tag = %q", tag)
		}
		return fake, nil
	}}
	for _, sev := range []events.Severity{events.SeverityCritical, events.SeverityWarning, events.SeverityInfo, ""} {
		if err := s.deliver(context.Background(), job{ev: events.Event{Severity: sev}}, []byte(`{"x":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{`crit {"x":1}`, `warning {"x":1}`, `info {"x":1}`, `info {"x":1}`}
	if strings.Join(fake.lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines = %q, want %q", fake.lines, want)
	}
	fake.failNow = true
	if err := s.deliver(context.Background(), job{}, []byte("{}")); err == nil {
		t.Fatal("write error not returned")
	}
	fake.failNow = false
	if err := s.deliver(context.Background(), job{}, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if dials != 2 || fake.closed != 1 {
		t.Errorf("dials = %d closed = %d, want a reconnect after the failure", dials, fake.closed)
	}
}

func TestSyslogReal(t *testing.T) {
	if _, err := os.Stat("/dev/log"); err != nil {
		t.Skip("no /dev/log")
	}
	s := &syslogAction{name: "sys", tag: "kuma-agent-alerts-test", dial: dialSyslog}
	if err := s.deliver(context.Background(), job{ev: events.Event{Severity: events.SeverityInfo}}, []byte(`{"test":true}`)); err != nil {
		t.Fatal(err)
	}
}
