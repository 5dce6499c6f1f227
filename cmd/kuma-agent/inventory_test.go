package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

var inventoryFixtures = filepath.Join("..", "..", "internal", "inventory", "testdata", "inventories")

func runInv(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = dispatch(context.Background(), append([]string{"inventory"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestInventoryCheckJSON(t *testing.T) {
	tests := []struct {
		file   string
		code   int
		layout string
		hosts  int
		codes  []string // finding codes that must appear
	}{
		{"k0s-prod-3cp-3w.inventory.yml", 0, "k0s", 11, nil},
		{"acura-ha_env_file", 0, "acura", 4, nil}, // 3 nodes + the balancer of its supplement
		{"single.inventory.yml", 0, "single", 1, nil},
		{"k0s-aio-1lb-1cp-2w.inventory.yml", 1, "k0s", 5, []string{"single-controller"}},
		{"invalid/k0s-two-controllers.inventory.yml", 1, "k0s", 3, []string{"controllers-even", "single-worker"}},
		{"invalid/raft-even-cores.inventory.yml", 2, "expand", 2, []string{"raft-even-cores"}},
		{"invalid/k0s-ip-missing.inventory.yml", 2, "k0s", 3, []string{"k0s-address-not-ip"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(inventoryFixtures, tt.file)
			code, out, errOut := runInv(t, "check", path, "--format", "json")
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errOut)
			}
			var r struct {
				File   string `json:"file"`
				Layout string `json:"layout"`
				Hosts  []struct {
					Name    string   `json:"name"`
					Address string   `json:"address"`
					Roles   []string `json:"roles"`
					Groups  []string `json:"groups"`
					Line    int      `json:"line"`
				} `json:"hosts"`
				Findings []struct {
					Severity string `json:"severity"`
					Code     string `json:"code"`
					Message  string `json:"message"`
					Host     string `json:"host"`
					Line     int    `json:"line"`
					Remedy   string `json:"remedy"`
				} `json:"findings"`
				Summary map[string]int `json:"summary"`
			}
			dec := json.NewDecoder(strings.NewReader(out))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&r); err != nil {
				t.Fatalf("output is not the report JSON: %v\n%s", err, out)
			}
			if r.File != path || r.Layout != tt.layout || len(r.Hosts) != tt.hosts {
				t.Errorf("file %q layout %q hosts %d; want %q %q %d", r.File, r.Layout, len(r.Hosts), path, tt.layout, tt.hosts)
			}
			for _, h := range r.Hosts {
				if h.Name == "" || h.Roles == nil || len(h.Groups) == 0 || h.Line == 0 {
					t.Errorf("host entry %+v lacks name or roles", h)
				}
			}
			counts := map[string]int{}
			var codes []string
			prev := 3
			rank := map[string]int{"error": 2, "warning": 1, "info": 0}
			for _, f := range r.Findings {
				counts[f.Severity]++
				codes = append(codes, f.Code)
				if rank[f.Severity] > prev {
					t.Errorf("findings not sorted worst first: %v", r.Findings)
				}
				prev = rank[f.Severity]
			}
			want := map[string]int{"errors": counts["error"], "warnings": counts["warning"], "info": counts["info"]}
			for k, v := range want {
				if n, ok := r.Summary[k]; !ok || n != v {
					t.Errorf("summary %v, want %v", r.Summary, want)
					break
				}
			}
			for _, c := range tt.codes {
				if !slices.Contains(codes, c) {
					t.Errorf("codes %v lack %s", codes, c)
				}
			}
		})
	}
}

func TestInventoryCheckTable(t *testing.T) {
	path := filepath.Join(inventoryFixtures, "invalid", "k0s-ip-in-pod-range.inventory.yml")
	code, out, _ := runInv(t, "check", "--format=table", path)
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	lines := strings.Split(out, "\n")
	if want := path + ": layout k0s, 2 hosts"; lines[0] != want {
		t.Errorf("header %q, want %q", lines[0], want)
	}
	for _, s := range []string{"kuma-w1.example.com", "10.244.3.7", "k0s-worker", "address-in-pod-range", "address-in-service-range", "(line 14)", "2 errors, 3 warnings"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
	if e, w := strings.Index(out, "address-in-pod-range"), strings.Index(out, "single-worker"); e > w {
		t.Errorf("errors not listed before warnings:\n%s", out)
	}
}

func TestInventoryUsageAndErrors(t *testing.T) {
	good := filepath.Join(inventoryFixtures, "single.inventory.yml")
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no subcommand", nil, 2, "usage: kuma-agent inventory check"},
		{"unknown subcommand", []string{"lint", good}, 2, "usage:"},
		{"no file", []string{"check"}, 2, "want exactly one FILE, got 0"},
		{"two files", []string{"check", good, good}, 2, "want exactly one FILE, got 2"},
		{"bad format", []string{"check", good, "--format", "xml"}, 2, `invalid value "xml" for flag -format: want table or json`},
		{"unknown flag", []string{"check", "--colour", good}, 2, "flag provided but not defined"},
		{"help", []string{"check", "-h"}, 0, ""},
		{"missing file", []string{"check", filepath.Join(inventoryFixtures, "none.yml")}, 2, "kuma-agent inventory: inventory: open "},
		{"broken yaml", []string{"check", filepath.Join(inventoryFixtures, "invalid", "broken-yaml.inventory.yml")}, 2,
			"kuma-agent inventory: " + filepath.Join(inventoryFixtures, "invalid", "broken-yaml.inventory.yml") + ":8: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runInv(t, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.stderr) {
				t.Errorf("exit %d stderr %q; want %d and %q", code, errOut, tt.code, tt.stderr)
			}
		})
	}
}

func TestInventoryCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	if code := dispatch(ctx, []string{"inventory", "check", filepath.Join(inventoryFixtures, "single.inventory.yml")}, &out, &errb); code != 2 || out.Len() != 0 {
		t.Errorf("exit %d, output %q after cancel", code, out.String())
	}
}

var vendorInventories = filepath.Join("..", "..", "internal", "inventory", "testdata", "vendor")

// inventoryJSON is the report as a script reads it.
type inventoryJSON struct {
	File     string `json:"file"`
	Layout   string `json:"layout"`
	Hosts    []any  `json:"hosts"`
	Findings []struct {
		Severity string `json:"severity"`
		Code     string `json:"code"`
		Message  string `json:"message"`
		Host     string `json:"host"`
		Line     int    `json:"line"`
		Remedy   string `json:"remedy"`
	} `json:"findings"`
	Summary map[string]int `json:"summary"`
	Error   string         `json:"error"`
}

func decodeInventoryJSON(t *testing.T, out string) inventoryJSON {
	t.Helper()
	var r inventoryJSON
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("stdout is not the report JSON: %v\n%s", err, out)
	}
	return r
}

// TestInventoryVendorExamples: the KUMA help's examples get the exit code
// the help implies (internal/inventory/testdata/vendor/NOTES.md), in both
// formats, and the table fits 100 columns.
func TestInventoryVendorExamples(t *testing.T) {
	exits := map[string]int{
		"3.0.2-k0s-demo.inventory.yml":                0,
		"3.0.3-k0s-ha.inventory.yml":                  2,
		"4.0-k0s-ha.inventory.yml":                    2,
		"4.0-distributed.inventory.yml":               0,
		"3.4-expand-aio-to-distributed.inventory.yml": 0,
		"4.0-override-vars.inventory.yml":             2,
	}
	files, _ := filepath.Glob(filepath.Join(vendorInventories, "*.inventory.yml"))
	if len(files) != len(exits) {
		t.Fatalf("vendor files %v, want %d", files, len(exits))
	}
	dir, err := filepath.Abs(vendorInventories)
	if err != nil {
		t.Fatal(err)
	}
	// As an operator runs it in the directory of the file: the width
	// test is about the table, not the path given.
	t.Chdir(dir)
	for _, path := range files {
		name := filepath.Base(path)
		path = name
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runInv(t, "check", path)
			if code != exits[name] {
				t.Errorf("table: exit %d, want %d\n%s%s", code, exits[name], out, errOut)
			}
			for i, l := range strings.Split(out+errOut, "\n") {
				if n := utf8.RuneCountInString(l); n > 100 {
					t.Errorf("table line %d has %d columns:\n%s", i+1, n, l)
				}
			}
			code, out, _ = runInv(t, "check", path, "--format", "json")
			if code != exits[name] {
				t.Errorf("json: exit %d, want %d", code, exits[name])
			}
			r := decodeInventoryJSON(t, out)
			for _, f := range r.Findings {
				bad := f.Code == "duplicate-address" || f.Code == "k0s-address-not-ip" ||
					f.Code == "core-not-on-worker" && f.Severity != "info" ||
					f.Code == "address-placeholder" && f.Severity != "info"
				if bad {
					t.Errorf("finding %+v contradicts the KUMA help", f)
				}
			}
		})
	}
}

// TestInventoryFoldedStorage: the HA examples' storage lines without ':'
// are one error saying what happened, at its line; the k0s rules still run
// and one cause on several hosts is one table row.
func TestInventoryFoldedStorage(t *testing.T) {
	const msg = "`kuma_storage.hosts` is one string of 7 names: each host line needs a trailing ':'"
	for file, line := range map[string]int{"3.0.3-k0s-ha.inventory.yml": 49, "4.0-k0s-ha.inventory.yml": 47} {
		path := filepath.Join(vendorInventories, file)
		code, out, _ := runInv(t, "check", path, "--format", "json")
		r := decodeInventoryJSON(t, out)
		var codes []string
		folded := 0
		for _, f := range r.Findings {
			codes = append(codes, f.Code)
			if f.Code == "names-folded" {
				folded++
				if f.Severity != "error" || f.Line != line || !strings.HasPrefix(f.Message, msg) {
					t.Errorf("%s: %+v; want an error at line %d: %s", file, f, line, msg)
				}
			}
		}
		if code != 2 || folded != 1 || !slices.Contains(codes, "etcd-quorum") || r.Layout != "k0s" {
			t.Errorf("%s: exit %d, layout %s, codes %v; want 2, k0s, one names-folded and the k0s rules", file, code, r.Layout, codes)
		}
		_, table, _ := runInv(t, "check", path)
		if n := strings.Count(table, "name-invalid"); n != 1 ||
			!strings.Contains(table, "kuma_cpm.example.com (line ") || !strings.Contains(table, "kuma_cp3.example.com (line ") {
			t.Errorf("%s: name-invalid in %d rows, want one row listing the three controllers:\n%s", file, n, table)
		}
		if !strings.Contains(table, "line "+strconv.Itoa(line)) {
			t.Errorf("%s: table lacks the line %d:\n%s", file, line, table)
		}
	}
}

// TestInventoryJSONUnreadable: --format json prints a report for every
// input, one that cannot be read or parsed included.
func TestInventoryJSONUnreadable(t *testing.T) {
	broken := filepath.Join(inventoryFixtures, "invalid", "broken-yaml.inventory.yml")
	tests := []struct {
		name, path, code, msg string
		line                  int
	}{
		{"missing", filepath.Join(inventoryFixtures, "no-such.inventory.yml"), "unreadable", "no such file", 0},
		{"directory", inventoryFixtures, "unreadable", "not a regular file", 0},
		{"broken yaml", broken, "invalid-inventory", "invalid YAML", 8},
		{"no hosts", filepath.Join(vendorInventories, "4.0-override-vars.inventory.yml"), "invalid-inventory", "inventory declares no hosts", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runInv(t, "check", tt.path, "--format", "json")
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			r := decodeInventoryJSON(t, out)
			if r.File != tt.path || r.Error == "" || !strings.Contains(errOut, r.Error) || r.Hosts == nil || len(r.Hosts) != 0 {
				t.Errorf("report %+v; want file %s, the error, no hosts", r, tt.path)
			}
			if len(r.Findings) == 0 || r.Summary["errors"] != len(r.Findings) {
				t.Fatalf("findings %+v summary %v", r.Findings, r.Summary)
			}
			f := r.Findings[len(r.Findings)-1]
			if f.Severity != "error" || f.Code != tt.code || f.Line != tt.line || !strings.Contains(f.Message, tt.msg) {
				t.Errorf("finding %+v; want error %s at line %d with %q", f, tt.code, tt.line, tt.msg)
			}
		})
	}
}

func TestWrap(t *testing.T) {
	if got := wrap("aaa bbb ccc", 7); !slices.Equal(got, []string{"aaa bbb", "ccc"}) {
		t.Errorf("wrap = %q", got)
	}
	if got := wrap("a "+strings.Repeat("x", 12)+" b", 5); !slices.Equal(got, []string{"a", strings.Repeat("x", 12), "b"}) {
		t.Errorf("long word: %q", got)
	}
	if got := wrapItems([]string{"h1 (line 1)", "h2 (line 2)", "h3 (line 3)"}, 25); !slices.Equal(got, []string{"h1 (line 1), h2 (line 2),", "h3 (line 3)"}) {
		t.Errorf("wrapItems = %q", got)
	}
}
