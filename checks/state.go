package checks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events/outbox"
)

// DefaultStateMinFree is State's MinFree when zero: the outbox's default
// bound.
const DefaultStateMinFree uint64 = 64 << 20

// State checks the agent's own state directory (mesh snapshot, event
// outbox, NATS store): it must be writable (a probe file is written,
// synced and removed), its file system should have room for the outbox's
// bound, and the daemon's outbox must be writing to it (not holding events
// in memory) with no corrupt files put aside in quarantine.
type State struct {
	Dir string
	// MinFree below which it warns (the outbox may not reach its bound);
	// 0 means DefaultStateMinFree.
	MinFree uint64
	// Outbox reports the running daemon's outbox; nil (doctor, events
	// disabled): not judged, and a missing Dir is fine (the agent makes it).
	Outbox func() (OutboxHealth, bool)
	// Stat reports the file system holding path; nil means statfs(2).
	Stat func(path string) (Usage, error)
}

// OutboxHealth is what State needs to know of the event outbox: the
// outbox's own report (its directory, why it is not used, what waits in
// memory, what was dropped and quarantined).
type OutboxHealth = outbox.Health

func (*State) Name() string { return "state" }
func (*State) Area() Area   { return AreaStorage }

func (s *State) Run(ctx context.Context) Result {
	stat := s.Stat
	if stat == nil {
		stat = StatFS
	}
	minFree := cmp.Or(s.MinFree, DefaultStateMinFree)
	res := Result{Status: OK}
	daemon := s.Outbox != nil
	var ob OutboxHealth
	hasOutbox := false
	if daemon {
		ob, hasOutbox = s.Outbox()
	}

	var u Usage
	where := s.Dir
	if got, err := stat(s.Dir); err == nil {
		u = got
		if u.Mount != "" {
			where += " (on " + u.Mount + ")"
		}
		res.Details = append(res.Details, fmt.Sprintf("%s: %s free of %s", where, diskBytes(u.FreeBytes), diskBytes(u.TotalBytes)))
	}
	if ctx.Err() != nil {
		return Unknownf("check cancelled: "+ctx.Err().Error(), "")
	}
	// The consequences, when the daemon's outbox had to give up the
	// directory: added to whatever the directory itself shows.
	held := ""
	if hasOutbox && ob.Err != nil {
		held = fmt.Sprintf("; the event outbox cannot use %s since %s (%v): %d event(s) held in memory (%s of %s), %d dropped so far",
			ob.Dir, ob.Since.Format(time.RFC3339), ob.Err, ob.MemoryEvents, diskBytes(uint64(ob.MemoryBytes)), diskBytes(uint64(ob.MemoryLimit)), ob.Dropped)
	}
	const back = " The agent goes back to its outbox by itself within seconds of the fix; events held in memory are lost if it stops before."
	if _, err := os.Stat(s.Dir); errors.Is(err, fs.ErrNotExist) {
		if !daemon {
			res.Message = s.Dir + " does not exist yet (the agent creates it when it starts)"
			return res
		}
		diskReport(&res, Crit, s.Dir+" does not exist and the agent could not create it"+held,
			fmt.Sprintf("Create it (`mkdir -p %s && chmod 700 %s`) or correct state_dir in /etc/kuma-agent/agent.yaml, then `systemctl restart kuma-agent`.", s.Dir, s.Dir))
	} else if err := probeWrite(s.Dir); err != nil {
		st, msg, remedy := writeTrouble(s.Dir, u.Mount, err)
		if held != "" {
			remedy += back
		}
		diskReport(&res, st, msg+held, remedy)
	} else if u.ReadOnly {
		st, msg, remedy := writeTrouble(s.Dir, u.Mount, syscall.EROFS)
		if held != "" {
			remedy += back
		}
		diskReport(&res, st, msg+held, remedy)
	} else if held != "" { // the directory works again: the outbox is about to notice
		_, _, remedy := writeTrouble(ob.Dir, u.Mount, ob.Err)
		diskReport(&res, Crit, strings.TrimPrefix(held, "; "), remedy+back)
	}
	if u.TotalBytes > 0 && u.FreeBytes < minFree {
		diskReport(&res, Warn, fmt.Sprintf("%s has %s free, less than the %s the event outbox may fill", where, diskBytes(u.FreeBytes), diskBytes(minFree)),
			diskSpaceRemedy(&diskTarget{paths: []string{s.Dir}, u: u}))
	}
	if hasOutbox {
		if n := len(ob.Quarantined); n > 0 {
			q := filepath.Join(ob.Dir, "quarantine")
			diskReport(&res, Warn, fmt.Sprintf("%d corrupt outbox file(s) moved to %s (the events lost with them were counted and announced by events.dropped)", n, q),
				fmt.Sprintf("Keep them for a bug report or delete them (`rm -r %s`); then find why they were damaged (`dmesg | grep -i -e error -e ext4 -e xfs`).", q))
			for _, f := range ob.Quarantined {
				res.Details = append(res.Details, "quarantined: "+f)
			}
		}
	}
	if res.Status == OK {
		res.Message = s.Dir + " is writable"
		if u.TotalBytes > 0 {
			res.Message += ", " + diskBytes(u.FreeBytes) + " free"
		}
		if hasOutbox {
			res.Message += "; the event outbox uses it"
		}
	}
	return res
}

// probeWrite writes, syncs and removes a small file in dir: what the outbox
// needs to work.
func probeWrite(dir string) error {
	f, err := os.CreateTemp(dir, ".kuma-agent-probe-*")
	if err != nil {
		return err
	}
	name := f.Name()
	_, err = f.Write(make([]byte, 4096))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	return err
}

// writeTrouble names what a write error in dir means and what to do.
func writeTrouble(dir, mount string, err error) (Status, string, string) {
	if mount == "" {
		mount = dir
	}
	check := "Check with `kuma-agent doctor --only state`."
	switch {
	case errors.Is(err, syscall.EROFS):
		return Crit, fmt.Sprintf("%s is on a read-only file system: events are held in memory only", dir),
			fmt.Sprintf("Find why it went read-only (`dmesg | grep -i -e 'remount' -e 'I/O error' -e ext4 -e xfs`), repair it (fsck) and remount it read-write (`mount -o remount,rw %s`). %s", mount, check)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return Crit, fmt.Sprintf("the file system of %s is full: events are held in memory only", dir),
			fmt.Sprintf("Free space on it: find what grew with `du -xh --max-depth=2 %s | sort -h | tail -20`, then e.g. `journalctl --vacuum-size=500M` and `apt-get clean`. %s", mount, check)
	case errors.Is(err, fs.ErrPermission) && os.Geteuid() != 0:
		return Unknown, fmt.Sprintf("cannot write %s as uid %d: %v", dir, os.Geteuid(), err), "Run as root (the agent does)."
	case errors.Is(err, fs.ErrPermission):
		return Crit, fmt.Sprintf("%s is not writable: %v", dir, err),
			fmt.Sprintf("Give it back to root: `chown root:root %s && chmod 700 %s`. %s", dir, dir, check)
	}
	msg := err.Error()
	if strings.Contains(msg, dir) {
		msg = "cannot write: " + msg
	} else {
		msg = fmt.Sprintf("cannot write %s: %v", dir, err)
	}
	return Crit, msg, "Look for disk errors (`dmesg | grep -i -e 'I/O error' -e ext4 -e xfs`) and repair the file system. " + check
}
