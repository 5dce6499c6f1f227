package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Files in the state dir. Tests write faultFile; `core --install` writes memberFile and
// joinsFile; the running service only reads them (and clears faultFile on "crash").
const (
	faultFile  = "fault"     // one word, see the fault* constants
	memberFile = "member"    // join target of the last --install; exists once a join was recorded
	joinsFile  = "joins.log" // one line per --install, so tests can count rejoins
	roleFile   = "role"      // leader or follower; missing: leader without --raft.join
	formatFile = "health-format"
)

// Health formats (formatFile). KUMA documents no health format: tests switch between
// these to prove the agent reads only what a site configured.
const (
	formatJSON    = "json"    // {"status":..., "id":..., "raft":{"state":..., "leader":...}}, always 200
	formatJSON503 = "json503" // the same body, 503 when out
	formatText    = "text"    // "raft_state=<state>\n", always 200
	format404     = "404"     // 404 on every path: a listener whose path nobody confirmed
)

// Files in the working directory <root>/core/<ID>, as KUMA documents it: Raft data
// under raft/, the local SQLite database next to it.
const (
	raftDir    = "raft"
	resetFile  = ".reset"  // under raft/: the next start rebuilds a one-node cluster
	membersLog = "members" // under raft/: the Raft members as this Core last knew them
	dbFile     = "core.db"
)

// Fault words. Empty or missing fault file means healthy.
const (
	faultCrash       = "crash"        // exit 1 at once, clearing the fault so the restart is healthy
	faultCrashAlways = "crash-always" // exit 1 on every start and while running, until the file changes
	faultHang        = "hang"         // health requests get no answer, watchdog pings stop
	faultLeave       = "leave"        // fall out of the Raft cluster until an --install rejoin
)

type stateDir string

func (d stateDir) path(name string) string { return filepath.Join(string(d), name) }

// fault returns the trimmed content of the fault file; a missing file is no fault.
func (d stateDir) fault() string {
	b, _ := os.ReadFile(d.path(faultFile))
	return strings.TrimSpace(string(b))
}

// clearFault empties the fault file rather than deleting it, so a test that watches the
// file sees it change in place.
func (d stateDir) clearFault() error { return os.WriteFile(d.path(faultFile), nil, 0o644) }

// word returns the trimmed content of a control file; "" when missing.
func (d stateDir) word(name string) string {
	b, _ := os.ReadFile(d.path(name))
	return strings.TrimSpace(string(b))
}

// member returns the join target recorded by the last --install.
func (d stateDir) member() (target string, ok bool) {
	b, err := os.ReadFile(d.path(memberFile))
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

// joins counts recorded --install runs; the service rejoins when the count grows.
func (d stateDir) joins() int {
	b, _ := os.ReadFile(d.path(joinsFile))
	return bytes.Count(b, []byte{'\n'})
}

// recordJoin writes the member file (via rename, so the polling service never reads it
// half-written) and then appends to joins.log. That order matters: the service treats
// the joins.log line as the rejoin, and must find the new leader already in place.
func (d stateDir) recordJoin(id, target string, now time.Time) error {
	tmp := d.path(memberFile + ".tmp")
	if err := os.WriteFile(tmp, []byte(target+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, d.path(memberFile)); err != nil {
		return err
	}
	f, err := os.OpenFile(d.path(joinsFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, werr := fmt.Fprintf(f, "%s id=%s raft.join=%s\n", now.UTC().Format(time.RFC3339Nano), id, target)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}
