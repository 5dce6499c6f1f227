package checks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/kumaunit"
)

const (
	coreA = "00000000-0000-0000-0000-000000000000"
	coreB = "11111111-1111-1111-1111-111111111111"
)

func unit(t *testing.T, name string, argv ...string) KUMAUnit {
	t.Helper()
	e, err := kumaunit.Parse(argv)
	if err != nil {
		t.Fatal(err)
	}
	return KUMAUnit{Unit: name, Active: true, Exec: &e}
}

func core(t *testing.T, id string, extra ...string) KUMAUnit {
	return unit(t, kumaunit.UnitName(kumaunit.KindCore, id), append([]string{"/opt/kaspersky/kuma/kuma", "core",
		"--raft.node.listen", "0.0.0.0:7209", "--raft.node.addr", "core-1.kuma.test:7209", "--health", "0.0.0.0:7208",
		"--internal", "0.0.0.0:7210", "--id", id}, extra...)...)
}

func collector(t *testing.T, coreList string) KUMAUnit {
	return unit(t, "kuma-collector-c1.service", "/opt/kaspersky/kuma/kuma", "collector", "--core", coreList, "--id", "c1", "--api.port", "7221")
}

// Each rule catches its fault, with its remedy; a clean node is OK.
func TestKUMAUnitsRules(t *testing.T) {
	root := t.TempDir()
	mk := func(p string) {
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mk(coreA + "/raft")
	mk(coreB + "/raft")
	cores3 := []InventoryCore{{"core-1.kuma.test", "core-1.kuma.test:7209"}, {"core-2.kuma.test", "core-2.kuma.test:7209"}, {"core-3.kuma.test", "core-3.kuma.test:7209"}}
	all := "https://core-1.kuma.test:7210,https://core-2.kuma.test:7210,https://core-3.kuma.test:7210"
	for _, c := range []struct {
		name   string
		units  []KUMAUnit
		setup  func()
		status Status
		want   string // in the details
		remedy string // in the remedy
	}{
		{"clean", []KUMAUnit{core(t, coreA), collector(t, all)}, nil, OK, "listeners [--raft.node.listen 0.0.0.0:7209", ""},
		{"wrong raft.node.addr", []KUMAUnit{unit(t, kumaunit.UnitName(kumaunit.KindCore, coreA), "kuma", "core", "--raft.node.addr", "core-1:7209", "--id", coreA)},
			nil, Crit, "--raft.node.addr core-1:7209, but the inventory says core-1.kuma.test:7209", "reinstall the Core with --raft.node.addr core-1.kuma.test:7209"},
		{"raft.join not a Core", []KUMAUnit{core(t, coreA, "--raft.join", "old-core.kuma.test:7209")}, nil, Crit, "--raft.join old-core.kuma.test:7209 is no Core of the inventory", "remove --raft.join"},
		{"raft.join a Core", []KUMAUnit{core(t, coreA, "--raft.join", "core-2.kuma.test:7209")}, nil, OK, "", ""},
		{"two Cores", []KUMAUnit{core(t, coreA), core(t, coreB)}, nil, Crit, "2 Core units on one host", "remove-node"},
		{"no working directory", []KUMAUnit{core(t, "22222222-2222-2222-2222-222222222222")}, nil, Crit, "working directory " + root + "/22222222-2222-2222-2222-222222222222 is missing", "restore-node"},
		{"leftover .reset", []KUMAUnit{core(t, coreA)}, func() { os.WriteFile(filepath.Join(root, coreA, "raft", ".reset"), nil, 0o644) }, Crit,
			"rebuilds the cluster from this node alone", "`rm " + filepath.Join(root, coreA, "raft", ".reset") + "`"},
		{"collector misses a Core", []KUMAUnit{collector(t, "https://core-1.kuma.test:7210,https://core-2.kuma.test:7210")}, nil, Warn,
			"missing Cores of the inventory: [core-3.kuma.test]", "edit --core"},
		{"collector names a stranger", []KUMAUnit{collector(t, all+",https://old.kuma.test:7210")}, nil, Warn, "not Cores of the inventory: [old.kuma.test]", ""},
		{"unknown flag kept, not fatal", []KUMAUnit{core(t, coreA, "--log.level", "debug")}, nil, OK, "flags the agent does not know (kept): --log.level", ""},
		{"bad flag value", []KUMAUnit{core(t, coreA, "--rest", "7223")}, nil, Warn, "--rest \"7223\"", ""},
		{"id mismatch", []KUMAUnit{core(t, coreA, "--id", coreB)}, nil, Warn, "runs --id " + coreB, ""},
		{"exec unknown", []KUMAUnit{{Unit: "kuma-core-" + coreA + ".service", ExecErr: "D-Bus timeout"}}, nil, Unknown, "command line unknown (D-Bus timeout)", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_ = os.Remove(filepath.Join(root, coreA, "raft", ".reset"))
			if c.setup != nil {
				c.setup()
			}
			k := &KUMAUnits{Node: "core-1.kuma.test", RaftAddr: "core-1.kuma.test:7209", Cores: cores3, WorkRoot: root,
				Units: func(context.Context) ([]KUMAUnit, error) { return c.units, nil }}
			r := k.Run(context.Background())
			d := strings.Join(r.Details, "\n")
			if r.Status != c.status || !strings.Contains(d, c.want) || !strings.Contains(r.Remedy, c.remedy) {
				t.Fatalf("status %s, want %s\ndetails:\n%s\nremedy: %s", r.Status, c.status, d, r.Remedy)
			}
		})
	}
}

// A .reset during a restore this node runs is expected, not a finding.
func TestKUMAUnitsResetDuringRestore(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, coreA, "raft"), 0o755)
	os.WriteFile(filepath.Join(root, coreA, "raft", ".reset"), nil, 0o644)
	k := &KUMAUnits{WorkRoot: root, Restoring: func() bool { return true },
		Units: func(context.Context) ([]KUMAUnit, error) { return []KUMAUnit{core(t, coreA)}, nil }}
	if r := k.Run(context.Background()); r.Status != OK {
		t.Fatalf("during a restore: %+v", r)
	}
	k.Restoring = func() bool { return false }
	if r := k.Run(context.Background()); r.Status != Crit {
		t.Fatalf("outside a restore: %+v", r)
	}
}

func TestKUMAUnitsCannotTell(t *testing.T) {
	k := &KUMAUnits{Units: func(context.Context) ([]KUMAUnit, error) { return nil, errors.New("no bus") }}
	if r := k.Run(context.Background()); r.Status != Unknown {
		t.Fatalf("%+v", r)
	}
	if r := (&KUMAUnits{}).Run(context.Background()); r.Status != Unknown {
		t.Fatalf("no source: %+v", r)
	}
}
