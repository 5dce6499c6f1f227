package checks

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLonghornPrereqs(t *testing.T) {
	helper := filepath.Join(t.TempDir(), "mount.nfs4")
	if err := os.WriteFile(helper, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "var", "lib", "longhorn") // not made yet: its parent is judged
	var asked string
	fs := func(typ string) func(string) (string, error) {
		return func(p string) (string, error) { asked = p; return typ, nil }
	}
	ok := &LonghornPrereqs{ProcDir: fakeProc(t, nil, map[int]fakeProcess{1: {comm: "sshd"}, 2: {comm: "iscsid"}}), NFSHelpers: []string{"/nonexistent", helper}, DataPath: data, FSType: fs("xfs")}
	if r := ok.Run(context.Background()); r.Status != OK || !strings.Contains(r.Message, "xfs") {
		t.Fatalf("ok: %+v", r)
	}
	if asked != filepath.Dir(filepath.Dir(filepath.Dir(data))) {
		t.Fatalf("statfs on %s", asked)
	}
	bad := &LonghornPrereqs{ProcDir: fakeProc(t, nil, map[int]fakeProcess{1: {comm: "sshd"}}), NFSHelpers: []string{"/nonexistent"}, DataPath: data, FSType: fs("btrfs")}
	r := bad.Run(context.Background())
	if r.Status != Crit || !strings.Contains(r.Message, "iscsid not running; no NFSv4 client; data path "+data+" on btrfs") ||
		!strings.Contains(r.Remedy, "open-iscsi") || !strings.Contains(r.Remedy, "nfs-common") || !strings.Contains(r.Remedy, "ext4 or XFS") {
		t.Fatalf("bad: %+v", r)
	}
	if r := (&LonghornPrereqs{ProcDir: "/nonexistent", DataPath: data}).Run(context.Background()); r.Status != Unknown {
		t.Fatalf("no /proc: %+v", r)
	}
}

func TestStatFSTypeHere(t *testing.T) {
	typ, err := StatFSType(t.TempDir())
	if err != nil || typ == "" {
		t.Fatalf("%q %v", typ, err)
	}
}
