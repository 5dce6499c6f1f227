package clusterchecks

import (
	"strings"
	"testing"
)

func TestUnitsAndRaftTags(t *testing.T) {
	m, err := EncodeTags(Tags{Units: "down", Raft: "leader"})
	if err != nil {
		t.Fatal(err)
	}
	if m[TagUnits] != "down" || m[TagRaft] != "leader" {
		t.Fatalf("encoded %v", m)
	}
	back, err := DecodeTags(m)
	if err != nil || back.Units != "down" || back.Raft != "leader" {
		t.Fatalf("decoded %+v %v", back, err)
	}
	if _, err := EncodeTags(Tags{Raft: "candidate"}); err == nil || !strings.Contains(err.Error(), "tag k") {
		t.Fatalf("bad raft state encoded: %v", err)
	}
	// A newer agent's unknown values read as "not said": never counted healthy.
	back, err = DecodeTags(map[string]string{TagUnits: "degraded", TagRaft: "learner"})
	if err != nil || back.Units != "" || back.Raft != "" {
		t.Fatalf("unknown values: %+v %v", back, err)
	}
}
