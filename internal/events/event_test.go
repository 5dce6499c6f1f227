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

// TestMemberEventID: one change of one member has one id whoever computes
// it; any other change, member, life, cluster or type has another, and a
// field boundary cannot be shifted into the same id.
func TestMemberEventID(t *testing.T) {
	id := MemberEventID("prod", MemberFailed, "core-3", "0badcafe", 7)
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Fatalf("id %q is not 32 lowercase hex digits", id)
	}
	if again := MemberEventID("prod", MemberFailed, "core-3", "0badcafe", 7); again != id {
		t.Fatalf("the same change gave %s and %s", id, again)
	}
	seen := map[string]string{id: "base"}
	for name, other := range map[string]string{
		"incarnation": MemberEventID("prod", MemberFailed, "core-3", "0badcafe", 8),
		"life":        MemberEventID("prod", MemberFailed, "core-3", "0badcafd", 7),
		"member":      MemberEventID("prod", MemberFailed, "core-4", "0badcafe", 7),
		"type":        MemberEventID("prod", MemberJoined, "core-3", "0badcafe", 7),
		"cluster":     MemberEventID("test", MemberFailed, "core-3", "0badcafe", 7),
		"boundary":    MemberEventID("prod", MemberFailed, "core-30", "badcafe", 7),
	} {
		if prev, ok := seen[other]; ok {
			t.Errorf("a different %s gave the id of %s", name, prev)
		}
		seen[other] = name
	}
}
