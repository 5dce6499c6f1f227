package clusterchecks

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/serftags"
)

func TestTagsRoundTrip(t *testing.T) {
	in := Tags{
		Roles:         cluster.Roles{cluster.RoleCore, cluster.RoleWorker},
		Version:       "1.4.0-rc1+g1234",
		Health:        Health{Worst: checks.Warn, Failing: []string{"ntp", "hosts"}},
		MachineIDHash: MachineIDHash("0123456789abcdef0123456789abcdef"),
		Generation:    42,
		Life:          "0badcafe",
	}
	m, err := EncodeTags(in)
	if err != nil {
		t.Fatal(err)
	}
	if m[TagHealth] != "warn:hosts,ntp" || m[TagRoles] != "core,k0s-worker" || m[TagGeneration] != "42" || m[TagLife] != "0badcafe" {
		t.Errorf("encoded %v", m)
	}
	out, err := DecodeTags(m)
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.Health.Failing = []string{"hosts", "ntp"} // sorted
	if !reflect.DeepEqual(out, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", out, want)
	}
	if n, _ := serftags.EncodedSize(m); n > MaxTagsSize {
		t.Errorf("encoded size %d", n)
	}
}

func TestTagsOKHealthAndEmptyFields(t *testing.T) {
	m, err := EncodeTags(Tags{})
	if err != nil {
		t.Fatal(err)
	}
	if m[TagHealth] != "ok" {
		t.Errorf("health %q, want ok", m[TagHealth])
	}
	for _, k := range []string{TagRoles, TagVersion, TagMachineID} {
		if _, ok := m[k]; ok {
			t.Errorf("empty field %s encoded: %v", k, m)
		}
	}
	got, err := DecodeTags(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Health.Worst != checks.Unknown {
		t.Errorf("missing health decodes as %s, want unknown", got.Health.Worst)
	}
}

func TestEncodeTagsTruncatesFailing(t *testing.T) {
	var failing []string
	for i := range 100 {
		failing = append(failing, fmt.Sprintf("plugin-check-number-%03d", i))
	}
	in := Tags{Roles: cluster.Roles{cluster.RoleCore}, Version: "1.0.0", MachineIDHash: MachineIDHash("x"),
		Health: Health{Worst: checks.Crit, Failing: failing}}
	m, err := EncodeTags(in)
	if err != nil {
		t.Fatal(err)
	}
	n, err := serftags.EncodedSize(m)
	if err != nil || n > MaxTagsSize {
		t.Fatalf("size %d, %v", n, err)
	}
	out, err := DecodeTags(m)
	if err != nil {
		t.Fatal(err)
	}
	kept := len(out.Health.Failing)
	if kept == 0 || kept == len(failing) || kept+out.Health.Omitted != len(failing) {
		t.Fatalf("kept %d omitted %d of %d", kept, out.Health.Omitted, len(failing))
	}
	if !slices.Equal(out.Health.Failing, failing[:kept]) {
		t.Errorf("kept a non-prefix: %v", out.Health.Failing)
	}
	if !strings.HasSuffix(m[TagHealth], fmt.Sprintf(",+%d", out.Health.Omitted)) {
		t.Errorf("no +N suffix: %q", m[TagHealth])
	}
	// The prefix is the longest that fits: one more name would not.
	m2 := map[string]string{}
	for k, v := range m {
		m2[k] = v
	}
	m2[TagHealth] = healthValue("crit", failing[:kept+1], len(failing)-kept-1)
	if n, _ := serftags.EncodedSize(m2); n <= MaxTagsSize {
		t.Errorf("%d names would fit too (%d bytes)", kept+1, n)
	}
	// Re-encoding a truncated health keeps the count.
	m3, err := EncodeTags(out)
	if err != nil || m3[TagHealth] != m[TagHealth] {
		t.Errorf("re-encode: %q, %v; want %q", m3[TagHealth], err, m[TagHealth])
	}
}

func TestEncodeTagsErrors(t *testing.T) {
	tests := []struct {
		name string
		tags Tags
		key  string
		is   error
	}{
		{"huge version", Tags{Version: strings.Repeat("v", 600)}, "", ErrTagsTooLarge},
		{"unknown role", Tags{Roles: cluster.Roles{"king"}}, TagRoles, nil},
		{"bad hash", Tags{MachineIDHash: "0123456789ABCDEF"}, TagMachineID, nil},
		{"bad life", Tags{Life: "0BADCAFE"}, TagLife, nil},
		{"long life", Tags{Life: "0badcafe0"}, TagLife, nil},
		{"comma in check", Tags{Health: Health{Worst: checks.Warn, Failing: []string{"a,b"}}}, TagHealth, nil},
		{"plus check", Tags{Health: Health{Worst: checks.Warn, Failing: []string{"+3"}}}, TagHealth, nil},
		{"bad status", Tags{Health: Health{Worst: checks.Status(9)}}, TagHealth, nil},
		{"control char", Tags{Version: "1.0\n"}, TagVersion, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := EncodeTags(tt.tags)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.key != "" && !strings.Contains(err.Error(), "tag "+tt.key+":") {
				t.Errorf("error %q does not name key %s", err, tt.key)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
}

func TestDecodeTags(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]string
		key  string // error naming this key; "" = success
		want func(Tags) bool
	}{
		{"unknown keys tolerated", map[string]string{"zz": "\x00anything", "h": "ok"}, "", func(t Tags) bool { return t.Health.Worst == checks.OK }},
		{"unknown role skipped", map[string]string{"r": "core,quantum-node"}, "", func(t Tags) bool { return slices.Equal(t.Roles, cluster.Roles{cluster.RoleCore}) }},
		{"omitted", map[string]string{"h": "crit:ports,+2"}, "", func(t Tags) bool {
			return t.Health.Worst == checks.Crit && slices.Equal(t.Health.Failing, []string{"ports"}) && t.Health.Omitted == 2
		}},
		{"only omitted", map[string]string{"h": "warn:+5"}, "", func(t Tags) bool { return t.Health.Omitted == 5 && len(t.Health.Failing) == 0 }},
		{"malformed role", map[string]string{"r": "core,,lb"}, TagRoles, nil},
		{"role with space", map[string]string{"r": "Core"}, TagRoles, nil},
		{"bad status", map[string]string{"h": "fine"}, TagHealth, nil},
		{"empty list", map[string]string{"h": "warn:"}, TagHealth, nil},
		{"plus not last", map[string]string{"h": "warn:+2,ntp"}, TagHealth, nil},
		{"plus zero", map[string]string{"h": "warn:ntp,+0"}, TagHealth, nil},
		{"plus plus", map[string]string{"h": "warn:ntp,++1"}, TagHealth, nil},
		{"short hash", map[string]string{"m": "abc"}, TagMachineID, nil},
		{"life", map[string]string{"l": "0badcafe"}, "", func(t Tags) bool { return t.Life == "0badcafe" }},
		{"short life", map[string]string{"l": "cafe"}, TagLife, nil},
		{"life not hex", map[string]string{"l": "0badcafg"}, TagLife, nil},
		{"negative generation", map[string]string{"g": "-1"}, TagGeneration, nil},
		{"overflowing generation", map[string]string{"g": "18446744073709551616"}, TagGeneration, nil},
		{"control char version", map[string]string{"v": "1\x1b[31m"}, TagVersion, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeTags(tt.in)
			if tt.key != "" {
				if err == nil || !strings.Contains(err.Error(), "tag "+tt.key+":") {
					t.Fatalf("error %v does not name key %s", err, tt.key)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(got) {
				t.Errorf("decoded %+v", got)
			}
		})
	}
}

func TestMachineIDHash(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef"
	h := MachineIDHash(id)
	sum := sha256.Sum256([]byte("kuma-agent machine-id v1:" + id))
	if h != hex.EncodeToString(sum[:8]) {
		t.Errorf("hash %s", h)
	}
	if !isMachineIDHash(h) || strings.Contains(id, h) {
		t.Errorf("hash %q malformed or leaks the id", h)
	}
	if MachineIDHash(id) != h || MachineIDHash(id[:31]+"0") == h {
		t.Error("hash not deterministic or not distinguishing")
	}
}

func FuzzDecodeTags(f *testing.F) {
	f.Add("core,k0s-worker", "1.0.0", "warn:hosts,ntp", MachineIDHash("a"), "7", "x")
	f.Add("", "", "crit:ports,+3", "", "", "")
	f.Add("core", "1.0.0", "ok", "", "1", "0badcafe")
	f.Add("lb", "v", "ok", "0123456789abcdef", "18446744073709551615", "\xff")
	f.Add("core,,x", "\x00", "warn:+1,a", "ABC", "-1", "")
	f.Fuzz(func(t *testing.T, r, v, h, m, g, extra string) {
		in := map[string]string{TagRoles: r, TagVersion: v, TagHealth: h, TagMachineID: m, TagGeneration: g, "x": extra}
		if len(extra) == LifeLen { // a life tag's length: read as one too
			in[TagLife] = extra
		}
		tags, err := DecodeTags(in)
		if err != nil {
			return
		}
		enc, err := EncodeTags(tags)
		if err != nil {
			if !errors.Is(err, ErrTagsTooLarge) {
				t.Fatalf("decoded tags %+v do not encode: %v", tags, err)
			}
			return
		}
		again, err := DecodeTags(enc)
		if err != nil {
			t.Fatalf("re-decode of %v: %v", enc, err)
		}
		// Equal, except that encoding may have moved failing names into
		// the omitted count.
		k := len(again.Health.Failing)
		if k > len(tags.Health.Failing) || !slices.Equal(again.Health.Failing, tags.Health.Failing[:k]) ||
			again.Health.Omitted != tags.Health.Omitted+len(tags.Health.Failing)-k {
			t.Fatalf("health %+v -> %+v", tags.Health, again.Health)
		}
		again.Health, tags.Health = Health{}, Health{}
		if !reflect.DeepEqual(again, tags) {
			t.Fatalf("round trip %+v -> %+v", tags, again)
		}
	})
}
