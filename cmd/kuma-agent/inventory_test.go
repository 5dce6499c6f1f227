package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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
		{"acura-ha_env_file", 0, "acura", 3, nil},
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
		{"missing file", []string{"check", filepath.Join(t.TempDir(), "none.yml")}, 2, "kuma-agent inventory: inventory: open "},
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
