package events

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestNewEventIsValidCloudEvent(t *testing.T) {
	e, err := New("prod", "kuma-core-1.example.com", MemberFailed, "kuma-core-2.example.com", SeverityCritical,
		MemberData{Member: "kuma-core-2.example.com", Status: "failed"}, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(e)
	var m map[string]any
	json.Unmarshal(b, &m)
	for _, k := range []string{"specversion", "id", "source", "type", "time", "subject", "data"} {
		if _, ok := m[k]; !ok {
			t.Errorf("json lacks %s: %s", k, b)
		}
	}
	if m["type"] != "com.kuma-agent.member.failed" || m["time"] != "2023-11-14T22:13:20Z" {
		t.Errorf("type/time: %s", b)
	}
	if got := SubjectOf(e); got != "kuma.prod.kuma-core-1_example_com.member.failed" {
		t.Errorf("subject %s", got)
	}
	if e.Node() != "kuma-core-1.example.com" || e.ShortType() != MemberFailed {
		t.Errorf("node %q type %q", e.Node(), e.ShortType())
	}
	e2, _ := New("prod", "n", AgentStarted, "", SeverityInfo, nil, time.Now())
	if e2.ID == e.ID || len(e.ID) != 32 {
		t.Errorf("ids %q %q", e.ID, e2.ID)
	}
}

func TestValidateNamesEachProblem(t *testing.T) {
	err := Event{}.Validate()
	for _, want := range []string{"specversion", "id is empty", "source", "type", "time"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v lacks %q", err, want)
		}
	}
}

func TestToken(t *testing.T) {
	for in, want := range map[string]string{"a.b": "a_b", "x*y>z": "x_y_z", "": "_", "a b\tc": "a_b_c", "kuma-1": "kuma-1"} {
		if got := Token(in); got != want {
			t.Errorf("Token(%q) = %q, want %q", in, got, want)
		}
	}
}
