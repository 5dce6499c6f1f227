package kumaunit

import (
	"slices"
	"strings"
	"testing"
)

// documentedCore is the KUMA 4.0 help's Core command line, as systemd
// hands it over (the shell's $(hostname -f) already expanded).
var documentedCore = []string{"/opt/kaspersky/kuma/kuma", "core", "--raft.node.listen", "0.0.0.0:7209",
	"--raft.node.addr", "core-1.kuma.example:7209", "--health", "0.0.0.0:7208", "--internal", "0.0.0.0:7210",
	"--private", "0.0.0.0:7220", "--cybertrace", "0.0.0.0:7222", "--rest", "0.0.0.0:7223", "--id", FirstCoreID}

func TestParseDocumentedCore(t *testing.T) {
	e, err := Parse(documentedCore)
	if err != nil {
		t.Fatal(err)
	}
	if e.Component != "core" || e.ID() != FirstCoreID || len(e.Problems) != 0 || len(e.Unknown()) != 0 {
		t.Fatalf("parsed %+v", e)
	}
	if v, _ := e.Value("raft.node.addr"); v != "core-1.kuma.example:7209" {
		t.Errorf("raft.node.addr = %q", v)
	}
	var got []string
	for _, l := range e.Listeners() {
		got = append(got, l.Flag+"="+l.Addr)
	}
	want := []string{"raft.node.listen=0.0.0.0:7209", "health=0.0.0.0:7208", "internal=0.0.0.0:7210",
		"private=0.0.0.0:7220", "cybertrace=0.0.0.0:7222", "rest=0.0.0.0:7223"}
	if !slices.Equal(got, want) {
		t.Errorf("listeners %v, want %v", got, want)
	}
	if h, ok := e.Listener("health"); !ok || h.Port != 7208 {
		t.Errorf("health listener %+v %v", h, ok)
	}
}

func TestParseForms(t *testing.T) {
	for _, tc := range []struct {
		name     string
		argv     []string
		flag     string
		value    string
		unknown  []string
		problems int
	}{
		{"equals form", []string{"kuma", "core", "--health=127.0.0.1:9208"}, "health", "127.0.0.1:9208", nil, 0},
		{"single dash", []string{"kuma", "core", "-rest", ":7223"}, "rest", ":7223", nil, 0},
		{"unknown with value kept", []string{"kuma", "core", "--log.level", "debug", "--id", "x"}, "id", "x", []string{"log.level=debug"}, 0},
		{"unknown switch before a flag", []string{"kuma", "core", "--verbose", "--id", "x"}, "id", "x", []string{"verbose="}, 0},
		{"bad listener", []string{"kuma", "core", "--health", "7208"}, "health", "7208", nil, 1},
		{"raft addr without host", []string{"kuma", "core", "--raft.node.addr", ":7209"}, "raft.node.addr", ":7209", nil, 1},
		{"missing value at the end", []string{"kuma", "core", "--raft.join"}, "", "", nil, 1},
		{"switch with a value", []string{"kuma", "core", "--install=yes"}, "install", "yes", nil, 1},
		{"stray word", []string{"kuma", "core", "--install", "stray"}, "", "", nil, 1},
		{"core list", []string{"kuma", "collector", "--core", "https://a.example:7210,b.example:7210"}, "core", "https://a.example:7210,b.example:7210", nil, 0},
		{"core list with a path", []string{"kuma", "collector", "--core", "https://a.example:7210/x"}, "core", "https://a.example:7210/x", nil, 1},
		{"bad api port", []string{"kuma", "storage", "--api.port", "70000"}, "api.port", "70000", nil, 1},
		{"id escaping", []string{"kuma", "core", "--id", "../etc"}, "id", "../etc", nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.argv)
			if err != nil {
				t.Fatal(err)
			}
			if tc.flag != "" {
				if v, ok := e.Value(tc.flag); !ok || v != tc.value {
					t.Errorf("--%s = %q, %v; want %q", tc.flag, v, ok, tc.value)
				}
			}
			var unk []string
			for _, f := range e.Unknown() {
				unk = append(unk, f.Name+"="+f.Value)
			}
			if !slices.Equal(unk, tc.unknown) {
				t.Errorf("unknown %v, want %v", unk, tc.unknown)
			}
			if len(e.Problems) != tc.problems {
				t.Errorf("problems %q, want %d", e.Problems, tc.problems)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	if _, err := Parse(nil); err == nil {
		t.Error("empty argv accepted")
	}
	if _, err := Parse(make([]string, MaxArgs+1)); err == nil || !strings.Contains(err.Error(), "256") {
		t.Errorf("too many args: %v", err)
	}
	if _, err := Parse([]string{"kuma", strings.Repeat("x", MaxArgBytes+1)}); err == nil {
		t.Error("oversize argument accepted")
	}
}

func TestCores(t *testing.T) {
	e, _ := Parse([]string{"kuma", "collector", "--core", "https://a.example:7210, b.example:7210", "--id", "c1"})
	if got := e.Cores(); !slices.Equal(got, []string{"a.example:7210", "b.example:7210"}) {
		t.Errorf("cores %v", got)
	}
	e, _ = Parse([]string{"kuma", "collector", "--core", ","})
	if e.Cores() != nil || len(e.Problems) != 1 {
		t.Errorf("empty core list: %v %q", e.Cores(), e.Problems)
	}
}

func TestWithoutFlag(t *testing.T) {
	argv := append(slices.Clone(documentedCore), "--raft.join", "core-1.kuma.example:7209", "--x=1")
	e, _ := Parse(argv)
	got := e.WithoutFlag("raft.join")
	want := append(slices.Clone(documentedCore), "--x", "1")
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestParseName(t *testing.T) {
	for _, tc := range []struct {
		unit string
		kind Kind
		id   string
		ok   bool
	}{
		{"kuma-core-" + FirstCoreID + ".service", KindCore, FirstCoreID, true},
		{"kuma-collector-abc.service", KindCollector, "abc", true},
		{"kuma-correlator-abc.service", KindCorrelator, "abc", true},
		{"kuma-storage-abc.service", KindStorage, "abc", true},
		{"kuma-core.service", "", "", false},
		{"kuma-grafana.service", "", "", false},
		{"kuma-core-..service", "", "", false},
		{"kuma-core-x.socket", "", "", false},
	} {
		k, id, ok := ParseName(tc.unit)
		if k != tc.kind || id != tc.id || ok != tc.ok {
			t.Errorf("ParseName(%q) = %q %q %v", tc.unit, k, id, ok)
		}
		if ok && UnitName(k, id) != tc.unit {
			t.Errorf("UnitName round trip of %q: %q", tc.unit, UnitName(k, id))
		}
	}
}

// FuzzParse: any argv parses or errors, never panics; every flag given is
// kept; Listeners and Cores only return what parses.
func FuzzParse(f *testing.F) {
	f.Add(strings.Join(documentedCore, "\x00"))
	f.Add("kuma\x00collector\x00--core\x00https://a:7210,b:7210\x00--api.port=7221\x00--zzz")
	f.Add("kuma\x00--\x00-\x00--=\x00--a=b=c")
	f.Fuzz(func(t *testing.T, s string) {
		argv := strings.Split(s, "\x00")
		e, err := Parse(argv)
		if err != nil {
			return
		}
		for _, l := range e.Listeners() {
			if l.Port < 1 || l.Port > 65535 {
				t.Fatalf("listener %+v", l)
			}
		}
		for _, c := range e.Cores() {
			if h, _, err := SplitHostPort(c); err != nil || h == "" {
				t.Fatalf("core %q", c)
			}
		}
		flags := 0
		for _, a := range argv[1:] {
			if n, ok := flagName(a); ok && !strings.HasPrefix(n, "=") {
				flags++
			}
		}
		named := 0
		for _, fl := range e.Flags {
			if fl.Name != "" {
				named++
			}
		}
		if named != flags {
			t.Fatalf("%d flags given, %d kept: %q", flags, named, argv)
		}
		again, err := Parse(e.WithoutFlag("\x00none"))
		if err != nil || len(again.Flags) != len(e.Flags) {
			t.Fatalf("re-rendered argv parses differently: %v %d != %d", err, len(again.Flags), len(e.Flags))
		}
	})
}
