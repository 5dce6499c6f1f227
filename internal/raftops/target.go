package raftops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/kumaunit"
	"github.com/kuma-agent/kuma-agent/internal/retry"
)

// Units is what a step does with systemd (over D-Bus in the agent).
type Units interface {
	Stop(ctx context.Context, unit string) error
	Start(ctx context.Context, unit string) error
	// Disable disables the unit's file (no-op for a unit without [Install]).
	Disable(ctx context.Context, unit string) error
	// Mask links the unit to /dev/null in /etc/systemd/system: a unit
	// whose file is the vendor's (not in UnitDir) is removed that way.
	Mask(ctx context.Context, unit string) error
	Reload(ctx context.Context) error
}

// LocalCore is this node's Core unit as its supervisor reads it.
type LocalCore struct {
	Unit   string
	ID     string
	Active bool
	Exec   *kumaunit.Exec
}

// Target performs steps on this node for the agents that ask.
type Target struct {
	Node  string   // this node's inventory name
	Nodes []string // every node of the inventory: who may ask
	Cores []string // the inventory's Raft Cores
	// Local is this node's Core unit; ok false when there is none.
	Local func(ctx context.Context) (LocalCore, bool, error)
	// Running are the inventory Cores this agent sees running (its own
	// Core from its supervisor, the others from the mesh).
	Running func() []string
	Units   Units
	// Backup archives Core id's working directory (corebackup); its
	// answer names the archive.
	Backup func(ctx context.Context, id string) (string, error)
	// Keep saves a copy of a file about to be removed (the unit file)
	// beside the backups; it returns where.
	Keep    func(id, path string) (string, error)
	CoreDir string // /opt/kaspersky/kuma/core
	UnitDir string // /etc/systemd/system
	// Settle is how long a precondition that does not hold is judged
	// again before the step is refused (0: once). This agent sees the
	// other Cores through gossip, which can lag by seconds the fresh
	// answers the requester planned from: a Core stopped just before the
	// request may still run here.
	Settle time.Duration
	// Sleep waits between those judgements (nil: retry.Sleep); false when
	// ctx ended.
	Sleep func(ctx context.Context, d time.Duration) bool
}

// settlePoll is how often a precondition is judged again within Settle;
// settleHold how many readings in a row it must then hold on (a second).
const (
	settlePoll = 250 * time.Millisecond
	settleHold = 4
)

// Handle answers one request whose subject named from (a token, as
// events.Token) as its sender. Everything is checked before anything is
// done; the answer says what was done or why not.
func (t *Target) Handle(ctx context.Context, from string, raw []byte) Reply {
	req, err := DecodeRequest(raw)
	if err != nil {
		return Reply{Reason: err.Error()}
	}
	rep := Reply{Operation: req.Operation, Step: req.Step}
	result, err := t.handle(ctx, from, req)
	if err != nil {
		rep.Reason = err.Error()
		return rep
	}
	rep.OK, rep.Result = true, result
	return rep
}

func (t *Target) handle(ctx context.Context, from string, req Request) (string, error) {
	requester, err := t.requester(from)
	if err != nil {
		return "", err
	}
	if err := req.Validate(t.Nodes); err != nil {
		return "", fmt.Errorf("request from %s refused: %w", requester, err)
	}
	if req.Node != t.Node {
		return "", fmt.Errorf("request from %s refused: it is for %s, this is %s", requester, req.Node, t.Node)
	}
	d, _ := Lookup(req.Procedure, req.Step)
	waited, err := t.judge(ctx, d)
	if err != nil {
		return "", fmt.Errorf("%s %s refused on %s: %w", req.Procedure, req.Step, t.Node, err)
	}
	lc, ok, err := t.Local(ctx)
	switch {
	case err != nil:
		return "", fmt.Errorf("%s %s refused: this node's Core unit cannot be read: %w", req.Procedure, req.Step, err)
	case !ok && req.Step != StepResetSeed && !exists(t.workDir(req.CoreID)):
		// Removed already (a view that lagged, a step run again): the
		// step's end state holds, nothing is done.
		return fmt.Sprintf("no Core unit and no %s on %s: nothing to do", t.workDir(req.CoreID), t.Node), nil
	case !ok:
		return "", fmt.Errorf("%s %s refused: no Core unit on %s", req.Procedure, req.Step, t.Node)
	case lc.ID != req.CoreID:
		return "", fmt.Errorf("%s %s refused: the Core on %s is %s, the request names %s", req.Procedure, req.Step, t.Node, lc.ID, req.CoreID)
	case d.Stopped && lc.Active:
		return "", fmt.Errorf("%s %s refused: %s is still active (the stop step comes first)", req.Procedure, req.Step, lc.Unit)
	}
	if !kumaunit.PlainID(lc.ID) || !plainWord(lc.ID, 64) {
		return "", fmt.Errorf("the Core ID %q is no plain word", lc.ID)
	}
	var done []string
	if waited > 0 {
		done = append(done, fmt.Sprintf("the precondition held here after %v (this node's view caught up)", waited))
	}
	if d.Backup {
		path, err := t.Backup(ctx, lc.ID)
		if err != nil {
			return "", fmt.Errorf("%s %s refused: backup of %s failed: %w", req.Procedure, req.Step, t.workDir(lc.ID), err)
		}
		done = append(done, "backup "+path)
	}
	switch req.Step {
	case StepStopCore:
		err = t.Units.Stop(ctx, lc.Unit)
		done = append(done, "stopped "+lc.Unit)
	case StepRemoveCore:
		var more []string
		more, err = t.removeCore(ctx, lc)
		done = append(done, more...)
	case StepResetSeed:
		var more []string
		more, err = t.resetSeed(ctx, req.Operation, lc)
		done = append(done, more...)
	}
	if err != nil {
		return "", fmt.Errorf("%s %s on %s failed after [%s]: %w", req.Procedure, req.Step, t.Node, strings.Join(done, "; "), err)
	}
	return strings.Join(done, "; "), nil
}

// requester maps the sender token of a subject to the one inventory node
// it stands for; two nodes sharing a token are refused (ambiguous).
func (t *Target) requester(from string) (string, error) {
	var match []string
	for _, n := range t.Nodes {
		if events.Token(n) == from {
			match = append(match, n)
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return "", fmt.Errorf("requester %q is no node of the inventory", from)
	}
	return "", fmt.Errorf("requester %q is ambiguous: %s share it", from, strings.Join(match, ", "))
}

// judge checks d's precondition. One that does not hold at once is
// judged again every settlePoll for up to Settle and must then hold on
// settleHold readings in a row: a view that flickers (a Core's tag
// unknown for a moment during an election or a D-Bus reconnect) must not
// pass on one lucky reading. waited is how long it took (0: at once).
func (t *Target) judge(ctx context.Context, d StepDef) (waited time.Duration, err error) {
	first := t.checkPrecondition(d)
	if first == nil || t.Settle <= 0 {
		return 0, first
	}
	sleep := t.Sleep
	if sleep == nil {
		sleep = retry.Sleep
	}
	last, held := first, 0
	for waited < t.Settle {
		if !sleep(ctx, settlePoll) {
			return waited, fmt.Errorf("%w (not judged again: this agent is stopping)", last)
		}
		waited += settlePoll
		if err := t.checkPrecondition(d); err != nil {
			last, held = err, 0
			continue
		}
		if held++; held == settleHold {
			return waited, nil
		}
	}
	return waited, fmt.Errorf("%w (judged again for %v: it did not hold on %d readings in a row)", last, t.Settle, settleHold)
}

// checkPrecondition judges d's precondition on this agent's own view.
func (t *Target) checkPrecondition(d StepDef) error {
	running := slices.DeleteFunc(slices.Clone(t.Running()), func(n string) bool { return !slices.Contains(t.Cores, n) })
	n := len(t.Cores)
	switch d.Pre {
	case MajorityLost:
		if q := cluster.QuorumOf(n, len(running)); q.HasQuorum {
			return fmt.Errorf("%s does not hold here: %d of %d Cores run (%s), a quorum", d.Pre, len(running), n, strings.Join(running, ", "))
		}
	case OthersKeepQuorum, WorksWithout:
		others := slices.DeleteFunc(running, func(c string) bool { return c == t.Node })
		of := n - 1 // remove-node: the Cores that remain
		if d.Pre == WorksWithout {
			of = n // restore-node: the node stays a member
		}
		if q := cluster.QuorumOf(of, len(others)); !q.HasQuorum {
			return fmt.Errorf("%s does not hold here: %d other Cores run (%s), a quorum of %d needs %d", d.Pre, len(others), strings.Join(others, ", "), of, q.Needed)
		}
	}
	return nil
}

func (t *Target) workDir(id string) string { return filepath.Join(t.CoreDir, id) }

// exists: path is there (or cannot be told: then it is not judged gone).
func exists(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// removeCore: KUMA's "remove the working directory and the unit". The
// unit file is removed only from UnitDir (where KUMA's installer writes
// it; a copy is kept beside the backups); a unit whose file is elsewhere
// (a vendor path) is masked instead, so no file outside UnitDir is touched.
func (t *Target) removeCore(ctx context.Context, lc LocalCore) ([]string, error) {
	var done []string
	if err := t.Units.Stop(ctx, lc.Unit); err != nil {
		return done, err
	}
	done = append(done, "stopped "+lc.Unit)
	if err := t.Units.Disable(ctx, lc.Unit); err != nil {
		return done, err
	}
	done = append(done, "disabled")
	if err := os.RemoveAll(t.workDir(lc.ID)); err != nil {
		return done, fmt.Errorf("remove the working directory: %w", err)
	}
	done = append(done, "removed "+t.workDir(lc.ID))
	unitFile := filepath.Join(t.UnitDir, lc.Unit)
	fi, err := os.Lstat(unitFile)
	switch {
	case err == nil && fi.Mode().IsRegular():
		kept, err := t.Keep(lc.ID, unitFile)
		if err != nil {
			return done, fmt.Errorf("keep a copy of %s: %w", unitFile, err)
		}
		if err := os.Remove(unitFile); err != nil {
			return done, fmt.Errorf("remove the unit: %w", err)
		}
		done = append(done, "removed "+unitFile+" (copy: "+kept+")")
	case err == nil || errors.Is(err, fs.ErrNotExist):
		if err := t.Units.Mask(ctx, lc.Unit); err != nil {
			return done, fmt.Errorf("mask the unit (its file is not in %s): %w", t.UnitDir, err)
		}
		done = append(done, "masked "+lc.Unit+" (its file is not in "+t.UnitDir+")")
	default:
		return done, fmt.Errorf("the unit file: %w", err)
	}
	if err := t.Units.Reload(ctx); err != nil {
		return done, err
	}
	return append(done, "daemon-reload"), nil
}

// resetSeed: KUMA's "touch raft/.reset, remove --raft.join from its unit,
// daemon-reload, start" on the chosen node.
func (t *Target) resetSeed(ctx context.Context, operation string, lc LocalCore) ([]string, error) {
	var done []string
	if lc.Exec == nil {
		return done, fmt.Errorf("the command line of %s is unknown: --raft.join cannot be removed", lc.Unit)
	}
	body, err := DropIn(operation, lc.Exec.WithoutFlag("raft.join"))
	if err != nil {
		return done, err
	}
	raftDir := filepath.Join(t.workDir(lc.ID), "raft")
	if err := os.MkdirAll(raftDir, 0o750); err != nil {
		return done, fmt.Errorf("raft directory: %w", err)
	}
	reset := filepath.Join(raftDir, ".reset")
	if err := os.WriteFile(reset, nil, 0o640); err != nil {
		return done, fmt.Errorf("touch .reset: %w", err)
	}
	done = append(done, "touched "+reset)
	dir := filepath.Join(t.UnitDir, lc.Unit+".d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return done, fmt.Errorf("drop-in directory: %w", err)
	}
	dropIn := filepath.Join(dir, DropInName)
	if err := writeFileAtomic(dropIn, []byte(body), 0o644); err != nil {
		return done, fmt.Errorf("drop-in: %w", err)
	}
	done = append(done, "wrote "+dropIn+" (ExecStart without --raft.join)")
	if err := t.Units.Reload(ctx); err != nil {
		return done, err
	}
	done = append(done, "daemon-reload")
	if err := t.Units.Start(ctx, lc.Unit); err != nil {
		return done, err
	}
	return append(done, "started "+lc.Unit), nil
}

// writeFileAtomic: a reader (systemd) sees the old file or the new one.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
