package outbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/privfile"
)

// Health is the state of the outbox's directory.
type Health struct {
	Dir string
	// Err is why the directory is not used now (nil: it is); since Since.
	// Meanwhile events are kept in memory, MemoryEvents of them taking
	// MemoryBytes of MemoryLimit.
	Err          error
	Since        time.Time
	MemoryEvents int
	MemoryBytes  int64
	MemoryLimit  int64
	// Dropped is Dropped(); Quarantined names the files in QuarantineDir.
	Dropped     uint64
	Quarantined []string
}

// Health reports whether the directory works and what the outbox holds in
// memory because it does not.
func (o *Outbox) Health() Health {
	o.mu.Lock()
	defer o.mu.Unlock()
	return Health{
		Dir: o.opt.Dir, Err: o.diskErr, Since: o.diskSince,
		MemoryEvents: len(o.mem), MemoryBytes: o.memBytes, MemoryLimit: o.opt.MemoryBytes,
		Dropped: o.drops.Total, Quarantined: slices.Clone(o.quarantined),
	}
}

// fail switches to memory after a disk error: new events are kept in
// memory and the directory is retried every RetryInterval.
func (o *Outbox) fail(err error) {
	if o.diskErr == nil {
		o.diskSince = o.opt.Now()
		o.memFullLogged = false
		o.opt.Logger.Error("outbox: the state directory cannot be used; events are kept in memory until it can (the oldest beyond the limit are dropped and counted)",
			"dir", o.opt.Dir, "err", err, "memory_limit_bytes", o.opt.MemoryBytes, "retry_every", o.opt.RetryInterval)
	}
	o.diskErr = err
	o.failures++
	o.lastTry = time.Now()
	if o.w != nil {
		o.w.Close()
		o.w = nil
	}
}

// appendMem keeps e in memory, dropping (and counting) the oldest kept
// events beyond MemoryBytes; the newest is always kept.
func (o *Outbox) appendMem(e events.Event, rec []byte) {
	o.mem = append(o.mem, memRec{seq: o.memSeq, ev: e, rec: rec})
	o.memSeq++
	o.memBytes += int64(len(rec))
	for o.memBytes > o.opt.MemoryBytes && len(o.mem) > 1 {
		old := o.mem[0]
		o.memBytes -= int64(len(old.rec))
		o.mem[0] = memRec{}
		o.mem = o.mem[1:]
		o.drops.add(1, events.DropMemory, old.ev.Time, old.ev.Time)
		o.dropsDirty = true
		if !o.memFullLogged {
			o.memFullLogged = true
			o.opt.Logger.Error("outbox: memory buffer full while the state directory cannot be used: dropping the oldest events (counted, announced by events.dropped)",
				"dir", o.opt.Dir, "limit_bytes", o.opt.MemoryBytes, "err", o.diskErr)
		}
	}
}

// retryDisk tries the directory again, at most every RetryInterval unless
// force: a first read of it if Open could not, else a new writer; then the
// accounting and the cursor left unwritten, and what memory holds. The
// accounting is written even when nothing changed: it proves the directory
// takes writes (a full disk still opens files).
func (o *Outbox) retryDisk(force bool) {
	if o.diskErr == nil || o.closed {
		return
	}
	if !force && time.Since(o.lastTry) < o.opt.RetryInterval {
		return
	}
	o.lastTry = time.Now()
	before := o.failures
	err := o.reattach()
	if err == nil && o.failures != before { // something failed on the way and said so
		err = o.diskErr
	}
	if err != nil {
		if o.w != nil {
			o.w.Close()
			o.w = nil
		}
		o.diskErr = err
		o.opt.Logger.Debug("outbox: the state directory still cannot be used", "dir", o.opt.Dir, "err", err)
		return
	}
	o.opt.Logger.Warn("outbox: the state directory works again; events kept in memory are on disk",
		"dir", o.opt.Dir, "after", o.opt.Now().Sub(o.diskSince).Round(time.Second), "dropped_total", o.drops.Total)
	o.diskErr = nil
}

func (o *Outbox) reattach() error {
	if !o.ready {
		if err := o.attach(); err != nil {
			return err
		}
	} else if err := o.reopen(); err != nil {
		return err
	}
	if err := writeAtomic(o.path(stateFile), o.drops, true); err != nil {
		return err
	}
	o.dropsDirty = false
	if o.cursorDirty {
		if err := o.writeCursor(); err != nil {
			return err
		}
		o.cursorDirty = false
	}
	return o.flushMem()
}

// reopen opens a writer on the newest segment again, cut back to what it
// holds (a failed write may have left part of a record), or on a new one.
func (o *Outbox) reopen() error {
	if o.w != nil {
		return nil
	}
	if len(o.segs) == 0 {
		return o.openWriter(o.lastID + 1)
	}
	last := o.segs[len(o.segs)-1]
	name := o.path(segName(last.id))
	if err := os.Truncate(name, last.size); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("outbox: %w", err)
	}
	return o.openWriter(last.id)
}

// flushMem moves the events kept in memory onto disk, in order, after
// everything there; those handed out by Peek become their disk records, so
// Ack still finds them.
func (o *Outbox) flushMem() error {
	for len(o.mem) > 0 {
		m := o.mem[0]
		stored, err := o.appendDisk(m.rec, uint32(len(m.rec)-headerBytes), m.ev.Time)
		if !stored {
			return err
		}
		// The record went to the end of the newest segment (enforceBound
		// drops only older ones).
		seg := o.segs[len(o.segs)-1]
		at := seg.recs[len(seg.recs)-1]
		for i, p := range o.peeked {
			if p.mem && p.seq == m.seq {
				o.peeked[i] = peekedRec{seg: seg.id, off: at.off}
			}
		}
		o.memBytes -= int64(len(m.rec))
		o.mem[0] = memRec{}
		o.mem = o.mem[1:]
		if err != nil {
			return err
		}
	}
	o.mem = nil
	return nil
}

// listQuarantine refreshes the names of the quarantined files.
func (o *Outbox) listQuarantine() {
	entries, err := os.ReadDir(filepath.Join(o.opt.Dir, QuarantineDir))
	if err != nil {
		return
	}
	o.quarantined = o.quarantined[:0]
	for _, e := range entries {
		o.quarantined = append(o.quarantined, e.Name())
	}
}

// quarantineName is a new name in QuarantineDir for the file name.
func (o *Outbox) quarantineName(name string) (string, error) {
	dir := filepath.Join(o.opt.Dir, QuarantineDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("outbox: %w", err)
	}
	base := filepath.Base(name) + "." + o.opt.Now().UTC().Format("20060102T150405Z")
	q := filepath.Join(dir, base)
	for i := 1; ; i++ {
		if _, err := os.Lstat(q); errors.Is(err, fs.ErrNotExist) {
			return q, nil
		}
		q = filepath.Join(dir, fmt.Sprintf("%s.%d", base, i))
	}
}

// quarantine moves the file name into QuarantineDir and returns its new
// path.
func (o *Outbox) quarantine(name string) (string, error) {
	q, err := o.quarantineName(name)
	if err != nil {
		return "", err
	}
	if err := os.Rename(name, q); err != nil {
		return "", fmt.Errorf("outbox: quarantine %s: %w", name, err)
	}
	o.quarantined = append(o.quarantined, filepath.Base(q))
	return q, syncDir(o.opt.Dir)
}

// salvageReport is what salvage lost and kept of a corrupt segment.
type salvageReport struct {
	damaged     int    // damaged stretches: each lost at least one record
	kept        int    // intact records found after the damage
	lostBytes   int64  // bytes of the damaged stretches
	quarantined string // the original's name in QuarantineDir
}

// salvage replaces the corrupt segment name (content data, damaged at ce)
// by its intact records: everything before the damage byte for byte (so
// the cursor stays valid), then every intact record found after it. The
// original goes into QuarantineDir. The new content is returned.
//
// Crash safety: the new content is written and synced under a temporary
// name first; the original is linked into quarantine, then replaced by a
// rename. A crash leaves the original in place (salvaged again at the next
// Open) or the new content.
func (o *Outbox) salvage(name string, data []byte, ce *CorruptError) ([]byte, salvageReport, error) {
	tail, rep := resync(data, ce.Offset)
	out := append(slices.Clone(data[:ce.Offset]), tail...)
	tmp := name + ".salvage"
	if err := writeFileSync(tmp, out); err != nil {
		return nil, rep, err
	}
	q, err := o.quarantineName(name)
	if err != nil {
		return nil, rep, err
	}
	if err := os.Link(name, q); err != nil {
		// No hard links here: move it, then put the new content in place.
		if err := os.Rename(name, q); err != nil {
			return nil, rep, fmt.Errorf("outbox: quarantine %s: %w", name, err)
		}
	}
	if err := os.Rename(tmp, name); err != nil {
		return nil, rep, fmt.Errorf("outbox: %w", err)
	}
	if err := syncDir(o.opt.Dir); err != nil {
		return nil, rep, fmt.Errorf("outbox: %w", err)
	}
	o.quarantined = append(o.quarantined, filepath.Base(q))
	rep.quarantined = filepath.Base(q)
	o.opt.Logger.Error("outbox: corrupt segment moved to quarantine; its intact records are kept, the damaged stretch is lost (counted, announced by events.dropped)",
		"file", name, "offset", ce.Offset, "reason", ce.Reason, "quarantined", q,
		"kept_after_damage", rep.kept, "lost_bytes", rep.lostBytes)
	return out, rep, nil
}

// resyncBudget bounds the CRC work of one resync (bytes checksummed), so a
// crafted segment cannot make Open slow.
const resyncBudget = 64 << 20

// resync walks data from the damaged offset from, byte by byte, for intact
// records: a plausible length that fits, a payload that starts like an
// event ('{') and a matching CRC. It returns those records, concatenated,
// and what was lost.
func resync(data []byte, from int64) ([]byte, salvageReport) {
	var (
		out     []byte
		rep     salvageReport
		budget  = int64(resyncBudget)
		inGap   bool
		size    = int64(len(data))
		gapFrom = from
	)
	closeGap := func(pos int64) {
		if inGap {
			rep.damaged++
			rep.lostBytes += pos - gapFrom
			inGap = false
		}
	}
	pos := from
	for pos < size {
		if n, ok := intactAt(data, pos, &budget); ok {
			closeGap(pos)
			out = append(out, data[pos:pos+headerBytes+n]...)
			rep.kept++
			pos += headerBytes + n
			continue
		}
		if !inGap {
			inGap, gapFrom = true, pos
		}
		if budget <= 0 { // give up: the rest counts as one damaged stretch
			pos = size
			break
		}
		pos++
	}
	closeGap(pos)
	return out, rep
}

// intactAt says whether an intact record starts at pos, and its payload
// length; CRC work is taken from budget.
func intactAt(data []byte, pos int64, budget *int64) (int64, bool) {
	size := int64(len(data))
	if size-pos < headerBytes+1 {
		return 0, false
	}
	n := int64(le32(data[pos:]))
	if n == 0 || n > maxPayload || pos+headerBytes+n > size || data[pos+headerBytes] != '{' || *budget <= 0 {
		return 0, false
	}
	*budget -= n
	return n, crcOK(data[pos+headerBytes:pos+headerBytes+n], le32(data[pos+4:]))
}

// writeFileSync writes b to a new file name and syncs it.
func writeFileSync(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if err := privfile.Finish(f, b); err != nil {
		os.Remove(name)
		return fmt.Errorf("outbox: write %s: %w", name, err)
	}
	return nil
}
