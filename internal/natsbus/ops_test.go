package natsbus

import (
	"slices"
	"strings"
	"testing"
)

// TestOpsPermissions: an agent may publish ops messages only as itself
// (its node is the last token) and subscribe only to those addressed to
// it; a reader may do neither, and a leaf carries exactly its agent's.
func TestOpsPermissions(t *testing.T) {
	s := Scope{Cluster: "kuma", Node: "core-1.example.com"}
	ops := func(xs []string) []string {
		return slices.DeleteFunc(slices.Clone(xs), func(x string) bool { return !strings.HasPrefix(x, opsPrefix) })
	}
	a := PermissionsFor(RoleAgent, s)
	if got := ops(a.Publish); !slices.Equal(got, []string{"kuma-ops.kuma.*.*.core-1_example_com"}) {
		t.Errorf("agent publishes ops %q", got)
	}
	if got := ops(a.Subscribe); !slices.Equal(got, []string{"kuma-ops.kuma.*.core-1_example_com.*"}) {
		t.Errorf("agent subscribes ops %q", got)
	}
	r := PermissionsFor(RoleReader, s)
	if len(ops(r.Publish))+len(ops(r.Subscribe)) != 0 {
		t.Errorf("reader has ops permissions: %q %q", r.Publish, r.Subscribe)
	}
	l := PermissionsFor(RoleLeaf, s)
	if !slices.Equal(ops(l.Publish), ops(a.Publish)) || !slices.Equal(ops(l.Subscribe), ops(a.Subscribe)) {
		t.Errorf("leaf ops permissions %q %q, want the agent's", ops(l.Publish), ops(l.Subscribe))
	}
	subj := OpsSubject("kuma", OpsRequest, "core-2.example.com", s.Node)
	kind, to, from, ok := ParseOpsSubject("kuma", subj)
	if !ok || kind != OpsRequest || to != "core-2_example_com" || from != "core-1_example_com" {
		t.Fatalf("ParseOpsSubject(%q) = %q %q %q %v", subj, kind, to, from, ok)
	}
	for _, bad := range []string{"kuma-ops.other.req.a.b", "kuma-ops.kuma.req.a", "kuma-ops.kuma.req.a.b.c", "kuma.kuma.a.b", "kuma-ops.kuma.req..b"} {
		if _, _, _, ok := ParseOpsSubject("kuma", bad); ok {
			t.Errorf("ParseOpsSubject(%q) accepted", bad)
		}
	}
}
