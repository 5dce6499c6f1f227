package checks

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/testlab/tmpfs"
)

func roomyStat(string) (Usage, error) {
	return Usage{FreeBytes: 10 * gib, TotalBytes: 20 * gib, Mount: "/var/lib"}, nil
}

func outboxSays(h OutboxHealth) func() (OutboxHealth, bool) {
	return func() (OutboxHealth, bool) { return h, true }
}

func TestStateInjected(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "none")
	since := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name      string
		s         State
		want      Status
		msgHas    []string
		remedyHas string
	}{
		{"writable, doctor", State{Dir: dir, Stat: roomyStat}, OK, []string{dir + " is writable, 10.0 GiB free"}, ""},
		{"writable, daemon", State{Dir: dir, Stat: roomyStat, Outbox: outboxSays(OutboxHealth{Dir: dir + "/outbox"})}, OK,
			[]string{"the event outbox uses it"}, ""},
		{"missing, doctor", State{Dir: missing, Stat: roomyStat}, OK, []string{"does not exist yet"}, ""},
		{"missing, daemon", State{Dir: missing, Stat: roomyStat, Outbox: outboxSays(OutboxHealth{})}, Crit,
			[]string{"does not exist and the agent could not create it"}, "mkdir -p " + missing},
		{"outbox degraded, read-only", State{Dir: dir, Stat: roomyStat, Outbox: outboxSays(OutboxHealth{
			Dir: dir + "/outbox", Err: &os.PathError{Op: "open", Path: dir + "/outbox/cursor", Err: syscall.EROFS}, Since: since,
			MemoryEvents: 12, MemoryBytes: 4096, MemoryLimit: 4 << 20, Dropped: 3})}, Crit,
			[]string{"the event outbox cannot use " + dir + "/outbox since 2026-11-23T12:00:00Z", "12 event(s) held in memory (4.0 KiB of 4.0 MiB), 3 dropped"},
			"mount -o remount,rw /var/lib"},
		{"outbox degraded, directory read-only", State{Dir: dir, Stat: func(string) (Usage, error) {
			return Usage{FreeBytes: gib, TotalBytes: gib, Mount: "/srv", ReadOnly: true}, nil
		}, Outbox: outboxSays(OutboxHealth{Dir: dir + "/outbox", Err: syscall.EROFS, Since: since, MemoryEvents: 2})}, Crit,
			[]string{"is on a read-only file system", "2 event(s) held in memory"}, "goes back to its outbox by itself"},
		{"outbox degraded, full", State{Dir: dir, Stat: roomyStat, Outbox: outboxSays(OutboxHealth{
			Dir: dir + "/outbox", Err: fmt.Errorf("outbox: append: %w", syscall.ENOSPC), Since: since})}, Crit,
			[]string{"cannot use"}, "du -xh --max-depth=2 /var/lib"},
		{"quarantined", State{Dir: dir, Stat: roomyStat, Outbox: outboxSays(OutboxHealth{Dir: dir + "/outbox", Quarantined: []string{"000000000001.seg.20261123T120000Z"}})}, Warn,
			[]string{"1 corrupt outbox file(s) moved to " + dir + "/outbox/quarantine"}, "rm -r " + dir + "/outbox/quarantine"},
		{"low space", State{Dir: dir, Stat: func(string) (Usage, error) { return Usage{FreeBytes: 10 << 20, TotalBytes: gib}, nil }}, Warn,
			[]string{"has 10.0 MiB free, less than the 64.0 MiB"}, "du -xh"},
		{"mounted read-only", State{Dir: dir, Stat: func(string) (Usage, error) {
			return Usage{FreeBytes: gib, TotalBytes: gib, Mount: "/srv", ReadOnly: true}, nil
		}}, Crit, []string{"read-only file system"}, "mount -o remount,rw /srv"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.s.Run(context.Background())
			if r.Status != c.want {
				t.Fatalf("status = %v, want %v: %+v", r.Status, c.want, r)
			}
			for _, s := range c.msgHas {
				if !strings.Contains(r.Message, s) {
					t.Errorf("message %q lacks %q", r.Message, s)
				}
			}
			if !strings.Contains(r.Remedy, c.remedyHas) || (c.want == OK) != (r.Remedy == "") {
				t.Errorf("remedy %q, want one containing %q", r.Remedy, c.remedyHas)
			}
		})
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".kuma-agent-probe-*")); len(left) != 0 {
		t.Fatalf("probe files left behind: %v", left)
	}
}

// The real thing: a read-only and a full file system, found by the probe
// write and statfs.
func TestStateOnReadOnlyAndFullTmpfs(t *testing.T) {
	if !tmpfs.InNamespace(t) {
		return
	}
	ro := tmpfs.Mount(t, 1<<20)
	tmpfs.ReadOnly(t, ro)
	r := (&State{Dir: ro}).Run(context.Background())
	if r.Status != Crit || !strings.Contains(r.Message, "read-only file system") || !strings.Contains(r.Remedy, "mount -o remount,rw "+ro) {
		t.Errorf("read-only: %+v", r)
	}
	d := (&Disk{Paths: []string{ro}, MinFree: 1}).Run(context.Background())
	if d.Status != Crit || !strings.Contains(d.Message, "mounted read-only") {
		t.Errorf("disk check on read-only: %+v", d)
	}

	full := tmpfs.Mount(t, 1<<20)
	tmpfs.Fill(t, full)
	r = (&State{Dir: full}).Run(context.Background())
	if r.Status != Crit || !strings.Contains(r.Message, "is full") || !strings.Contains(r.Remedy, "du -xh --max-depth=2 "+full) {
		t.Errorf("full: %+v", r)
	}
}
