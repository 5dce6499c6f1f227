// Package outbox is the agent's durable on-disk queue of events that could
// not be published yet (NATS unreachable). Events are appended to segment
// files and handed out in order; the delivered position is kept in a cursor
// file. The queue is bounded: when full, whole oldest segments are dropped,
// counted, and the next delivery begins with an events.dropped event saying
// how many — a loss is never silent.
//
// Delivery is at least once: a crash between publishing and Ack re-sends the
// event. It is effectively exactly once only because an event keeps its ID
// and the publisher sets Nats-Msg-Id to it, so JetStream drops the duplicate
// (within the stream's duplicate window).
package outbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// SyncPolicy says when appended records are fsynced.
type SyncPolicy int

const (
	// SyncAlways fsyncs every Append (and every cursor write) before
	// returning: an event survives power loss once Append returned. Costs
	// one fsync per event (see BenchmarkAppendSyncAlways).
	SyncAlways SyncPolicy = iota
	// SyncInterval fsyncs at most every SyncInterval: a process crash loses
	// nothing (the data is in the page cache), power loss may lose the last
	// interval's events.
	SyncInterval
)

// Defaults for zero Options fields.
const (
	DefaultMaxBytes      = 64 << 20
	DefaultSegmentBytes  = 1 << 20
	DefaultSyncInterval  = 200 * time.Millisecond
	DefaultMemoryBytes   = 4 << 20
	DefaultRetryInterval = 5 * time.Second
)

// QuarantineDir is the directory, inside the outbox's, that corrupt files
// are moved into.
const QuarantineDir = "quarantine"

// Options configure an Outbox. Only Dir is required.
type Options struct {
	Dir          string
	MaxBytes     int64 // bound on the segment files; oldest dropped beyond it
	SegmentBytes int64 // segment rotation size; clamped to MaxBytes/2
	Sync         SyncPolicy
	SyncInterval time.Duration
	// MemoryBytes bounds the events kept in memory while Dir cannot be
	// written (read-only, full, failing); beyond it the oldest are dropped
	// and counted. At most MaxBytes.
	MemoryBytes int64
	// RetryInterval is how often an outbox whose directory failed tries it
	// again (Append and a background loop try; the first success moves
	// what memory holds onto disk).
	RetryInterval time.Duration
	// Cluster and Node are the source of the events.dropped event.
	Cluster, Node string
	Now           func() time.Time
	Logger        *slog.Logger
}

// Outbox is safe for concurrent use.
//
// Disk trouble never makes it unusable: a corrupt segment is moved into
// QuarantineDir (its intact records kept, the rest counted), and while the
// directory cannot be read or written the outbox keeps new events in a
// bounded memory buffer, after every event on disk, and hands them out from
// there; it retries the directory every RetryInterval and moves them onto
// disk once it works. Every event it does not keep is counted (Dropped) and
// announced by an events.dropped event. Health says which state it is in.
type Outbox struct {
	opt Options

	mu      sync.Mutex
	segs    []*segment // oldest first; the last is the one appended to
	lastID  uint64     // the newest segment id ever used
	w       *os.File   // the last segment, for appending; nil while the disk fails
	cur     *os.File   // the cursor file, rewritten in place
	readers map[uint64]*os.File
	drops   dropState
	peeked  []peekedRec // what the last Peek handed out
	dirty   bool        // appended since the last fsync (SyncInterval)
	notify  chan struct{}
	closed  bool

	// Disk trouble. ready: recover succeeded, segs and cur reflect the
	// directory. diskErr: why the directory is not used now (nil: it is);
	// then w is nil and new events go to mem, which is empty otherwise.
	// Invariant: diskErr == nil implies ready, w != nil and len(segs) > 0.
	ready         bool
	diskErr       error
	diskSince     time.Time
	lastTry       time.Time // last attempt on the directory (monotonic clock)
	dropsDirty    bool      // drops changed but not written
	cursorDirty   bool      // cursor moved but not written
	mem           []memRec
	memBytes      int64
	memSeq        uint64
	memFullLogged bool
	quarantined   []string // files in QuarantineDir
	unreadable    uint64   // the segment a read last failed in (logged once)
	failures      uint64   // calls of fail, ever

	stop chan struct{}
	done chan struct{}
}

// segment is one file and the undelivered records left in it.
type segment struct {
	id   uint64
	size int64
	recs []recMeta
}

type recMeta struct {
	off  int64
	n    uint32
	time time.Time
}

// memRec is an event kept in memory while the directory fails.
type memRec struct {
	seq uint64
	ev  events.Event
	rec []byte // encoded, ready for the disk
}

// peekedRec identifies one thing Peek handed out: a record by position, a
// memory record by sequence number (mem), or (dropped) the events.dropped
// event.
type peekedRec struct {
	dropped bool
	mem     bool
	seq     uint64
	seg     uint64
	off     int64
}

func segName(id uint64) string { return fmt.Sprintf("%012d.seg", id) }

func (o *Outbox) path(name string) string { return filepath.Join(o.opt.Dir, name) }

// Open opens or creates the outbox in o.Dir (mode 0700) and recovers it:
// resumes at the cursor, cuts a torn tail off the newest segment, skips and
// counts records whose CRC fails, moves a segment whose record lengths
// cannot be trusted into QuarantineDir (keeping its intact records), and
// finishes any interrupted drop. It fails only on bad Options: a directory
// that cannot be used leaves the outbox keeping events in memory (Health).
func Open(opt Options) (*Outbox, error) {
	if opt.Dir == "" {
		return nil, errors.New("outbox: Options.Dir is empty")
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = DefaultMaxBytes
	}
	if opt.SegmentBytes <= 0 {
		opt.SegmentBytes = DefaultSegmentBytes
	}
	// The newest segment is never dropped, so it must fit twice for the bound
	// to hold after dropping the others.
	opt.SegmentBytes = min(opt.SegmentBytes, opt.MaxBytes/2)
	if opt.SyncInterval <= 0 {
		opt.SyncInterval = DefaultSyncInterval
	}
	if opt.MemoryBytes <= 0 {
		opt.MemoryBytes = DefaultMemoryBytes
	}
	opt.MemoryBytes = min(opt.MemoryBytes, opt.MaxBytes)
	if opt.RetryInterval <= 0 {
		opt.RetryInterval = DefaultRetryInterval
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	o := &Outbox{opt: opt, readers: map[uint64]*os.File{}, notify: make(chan struct{})}
	o.mu.Lock()
	if err := o.attach(); err != nil {
		o.fail(err)
	}
	o.mu.Unlock()
	o.stop, o.done = make(chan struct{}), make(chan struct{})
	go o.maintain()
	return o, nil
}

// attach reads the directory from scratch (recover); on failure nothing of
// it is kept.
func (o *Outbox) attach() error {
	if err := os.MkdirAll(o.opt.Dir, 0o700); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if err := o.recover(); err != nil {
		o.closeFiles()
		o.segs = nil
		return err
	}
	o.ready = true
	return nil
}

func (o *Outbox) recover() error {
	o.listQuarantine()
	var drops dropState
	if err := o.readDropState(&drops); err != nil {
		return err
	}
	cur, err := readCursor(o.path(cursorFile))
	if err != nil {
		// A bad cursor only costs re-delivery, which JetStream dedupes.
		o.opt.Logger.Warn("outbox cursor unreadable, re-delivering from the oldest segment", "err", err)
		cur = cursor{}
	}
	if o.cur, err = os.OpenFile(o.path(cursorFile), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	ids, err := o.listSegments()
	if err != nil {
		return err
	}
	var skipped int
	changed := false
	for i, id := range ids {
		name := o.path(segName(id))
		// Delivered, or counted as dropped: finish the interrupted removal.
		if id < cur.Segment || id <= drops.DroppedThrough {
			if err := os.Remove(name); err != nil {
				return fmt.Errorf("outbox: %w", err)
			}
			continue
		}
		data, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		start := int64(0)
		if id == cur.Segment && cur.Offset <= int64(len(data)) {
			start = cur.Offset
		}
		last := i == len(ids)-1
		res, err := scanSegment(name, data, start, last)
		var ce *CorruptError
		if errors.As(err, &ce) {
			// Nothing after the damage can be located by the lengths:
			// keep the intact records, move the file aside, count the rest.
			var lost salvageReport
			if data, lost, err = o.salvage(name, data, ce); err != nil {
				return err
			}
			// Counted in memory (merged below): should this recovery fail
			// later, the next one finds the segment repaired and must not
			// lose the count.
			o.drops.add(lost.damaged, events.DropCorrupt, time.Time{}, time.Time{})
			o.drops.Pending.Uncounted = true
			o.drops.Pending.Quarantined = append(o.drops.Pending.Quarantined, lost.quarantined)
			res, err = scanSegment(name, data, start, last)
		}
		if err != nil {
			return err
		}
		if res.torn {
			o.opt.Logger.Warn("outbox: cutting a torn record off the newest segment", "file", name, "offset", res.end, "bytes", int64(len(data))-res.end)
			if err := os.Truncate(name, res.end); err != nil {
				return fmt.Errorf("outbox: %w", err)
			}
		}
		if res.skipped > 0 {
			o.opt.Logger.Error("outbox: skipped records with a bad CRC", "file", name, "count", res.skipped)
			skipped += res.skipped
		}
		seg := &segment{id: id, size: res.end}
		for _, r := range res.recs {
			var t struct {
				Time time.Time `json:"time"`
			}
			payload := data[r.off+headerBytes : r.off+headerBytes+int64(r.n)]
			if err := json.Unmarshal(payload, &t); err != nil {
				// A good CRC over bad JSON is a bug, not rot; don't hand it out.
				o.opt.Logger.Error("outbox: skipped a record that is not an event", "file", name, "offset", r.off, "err", err)
				skipped++
				continue
			}
			seg.recs = append(seg.recs, recMeta{off: r.off, n: r.n, time: t.Time})
		}
		o.segs = append(o.segs, seg)
	}
	if skipped > 0 {
		drops.add(skipped, events.DropCorrupt, time.Time{}, time.Time{})
		changed = true
	}
	// What was counted in memory while the directory could not be read.
	if o.drops.Total > 0 || o.drops.pending() || o.drops.Inflight != nil {
		drops = drops.merge(o.drops)
		changed = true
	}
	o.drops = drops
	if changed || o.dropsDirty {
		if err := writeAtomic(o.path(stateFile), o.drops, true); err != nil {
			return err
		}
		o.dropsDirty = false
	}
	o.lastID = max(o.lastID, cur.Segment, drops.DroppedThrough)
	next := o.lastID + 1
	if n := len(o.segs); n > 0 {
		next = o.segs[n-1].id
	}
	if err := o.openWriter(next); err != nil {
		return err
	}
	o.dropDelivered()
	return nil
}

// readDropState reads the drop accounting into d. A file that is not valid
// JSON is moved into QuarantineDir: what it said is lost, which the next
// events.dropped says (uncounted).
func (o *Outbox) readDropState(d *dropState) error {
	name := o.path(stateFile)
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if jerr := json.Unmarshal(b, d); jerr != nil {
		*d = dropState{}
		q, err := o.quarantine(name)
		if err != nil {
			return err
		}
		o.opt.Logger.Error("outbox: the drop accounting is unreadable; moved aside, earlier uncounted losses may go unreported",
			"file", name, "quarantined", q, "err", jerr)
		// In memory, as for a salvaged segment: merged by recover.
		o.drops.Pending.Uncounted = true
		o.drops.Pending.Quarantined = append(o.drops.Pending.Quarantined, filepath.Base(q))
	}
	return nil
}

// listSegments returns the segment ids in Dir, oldest first.
func (o *Outbox) listSegments() ([]uint64, error) {
	entries, err := os.ReadDir(o.opt.Dir)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	var ids []uint64
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".seg.salvage") { // a salvage a crash interrupted: redone
			_ = os.Remove(o.path(e.Name()))
			continue
		}
		base, ok := strings.CutSuffix(e.Name(), ".seg")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		id, err := strconv.ParseUint(base, 10, 64)
		if err != nil {
			continue // not ours
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// openWriter opens segment id for appending, creating it (and its entry in
// segs) if need be.
func (o *Outbox) openWriter(id uint64) error {
	name := o.path(segName(id))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	o.w = f
	o.lastID = max(o.lastID, id)
	if n := len(o.segs); n == 0 || o.segs[n-1].id != id {
		o.segs = append(o.segs, &segment{id: id})
		// Make the new name durable, or power loss could lose the file.
		if err := syncDir(o.opt.Dir); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
	}
	return nil
}

// Append queues e. Under SyncAlways it is on stable storage when Append
// returns. If the outbox is then over MaxBytes, the oldest segments are
// dropped and counted. While the directory cannot be written, e is kept in
// memory instead (no error): see Health. An event too large to keep is
// counted as dropped, and Append says so.
func (o *Outbox) Append(e events.Event) error {
	payload, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("outbox: event %s: %w", e.ID, err)
	}
	rec := encodeRecord(payload)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return errors.New("outbox: closed")
	}
	if len(payload) > maxPayload || int64(len(rec)) > o.opt.MaxBytes/2 {
		o.drops.add(1, events.DropTooLarge, e.Time, e.Time)
		o.saveDrops()
		o.signal()
		return fmt.Errorf("outbox: event %s is %d bytes, more than the outbox takes (counted as dropped)", e.ID, len(rec))
	}
	o.retryDisk(false)
	if o.diskErr == nil {
		stored, err := o.appendDisk(rec, uint32(len(payload)), e.Time)
		if err != nil {
			o.fail(err)
		}
		if stored {
			o.signal()
			return nil
		}
	}
	o.appendMem(e, rec)
	o.signal()
	return nil
}

// signal wakes what waits on Wait.
func (o *Outbox) signal() {
	close(o.notify)
	o.notify = make(chan struct{})
}

// appendDisk writes one record to the active segment (rotating first if it
// is full) and then enforces the bound. stored says the record is in the
// outbox (an error may still follow it, from enforcing the bound).
func (o *Outbox) appendDisk(rec []byte, n uint32, t time.Time) (stored bool, err error) {
	active := o.segs[len(o.segs)-1]
	if active.size > 0 && active.size+int64(len(rec)) > o.opt.SegmentBytes {
		if err := o.rotate(); err != nil {
			return false, err
		}
		active = o.segs[len(o.segs)-1]
	}
	// One write per record: a crash leaves it whole or a torn tail.
	if _, err := o.w.Write(rec); err != nil {
		// Cut what part of it got written, so the next record is not hidden
		// behind a torn one in the middle of the segment.
		_ = o.w.Truncate(active.size)
		return false, fmt.Errorf("outbox: append to %s: %w", segName(active.id), err)
	}
	if o.opt.Sync == SyncAlways {
		if err := o.w.Sync(); err != nil {
			_ = o.w.Truncate(active.size)
			return false, fmt.Errorf("outbox: sync %s: %w", segName(active.id), err)
		}
	} else {
		o.dirty = true
	}
	active.recs = append(active.recs, recMeta{off: active.size, n: n, time: t})
	active.size += int64(len(rec))
	return true, o.enforceBound()
}

// rotate seals the current segment and starts the next.
func (o *Outbox) rotate() error {
	cur := o.segs[len(o.segs)-1]
	// Sealed segments are synced so only the newest can have a torn tail.
	if err := o.w.Sync(); err != nil {
		return fmt.Errorf("outbox: sync %s: %w", segName(cur.id), err)
	}
	err := o.w.Close()
	o.w = nil
	if err != nil {
		return fmt.Errorf("outbox: close %s: %w", segName(cur.id), err)
	}
	if len(cur.recs) == 0 { // all delivered: nothing to keep
		if err := o.removeSegment(len(o.segs) - 1); err != nil {
			return err
		}
	}
	return o.openWriter(cur.id + 1)
}

// enforceBound drops whole oldest segments while the files exceed MaxBytes.
func (o *Outbox) enforceBound() error {
	var errs []error
	for o.diskBytes() > o.opt.MaxBytes && len(o.segs) > 1 {
		seg := o.segs[0]
		if n := len(seg.recs); n > 0 {
			o.drops.add(n, events.DropOverflow, seg.recs[0].time, seg.recs[n-1].time)
			o.opt.Logger.Warn("outbox full, dropped the oldest events", "count", n, "file", segName(seg.id), "limit_bytes", o.opt.MaxBytes)
		}
		o.drops.DroppedThrough = seg.id
		// Count before deleting: a crash in between must not lose the count,
		// and DroppedThrough keeps it from being counted twice.
		if err := writeAtomic(o.path(stateFile), o.drops, true); err != nil {
			o.dropsDirty = true
			errs = append(errs, err)
		}
		if err := o.removeSegment(0); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (o *Outbox) diskBytes() int64 {
	var n int64
	for _, s := range o.segs {
		n += s.size
	}
	return n
}

// removeSegment forgets segs[i] and deletes its file (the error says the
// file could not be deleted; it is forgotten anyway).
func (o *Outbox) removeSegment(i int) error {
	seg := o.segs[i]
	if r := o.readers[seg.id]; r != nil {
		r.Close()
		delete(o.readers, seg.id)
	}
	o.segs = slices.Delete(o.segs, i, i+1)
	if err := os.Remove(o.path(segName(seg.id))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// Peek returns up to max of the next undelivered events in order without
// removing them; a pending events.dropped event comes first, the events kept
// in memory (Health) last. Repeated Peeks without Ack return the same events
// (with the same IDs).
func (o *Outbox) Peek(max int) ([]events.Event, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, errors.New("outbox: closed")
	}
	o.peeked = o.peeked[:0]
	if max <= 0 {
		return nil, nil
	}
	if err := o.startDropped(); err != nil {
		return nil, err
	}
	var out []events.Event
	if o.drops.Inflight != nil {
		out = append(out, *o.drops.Inflight)
		o.peeked = append(o.peeked, peekedRec{dropped: true})
	}
	return o.peekFrom(0, 0, 0, out, max), nil
}

// PeekMore hands out up to max events following those handed out since the
// last Peek, acked or not: a publisher with several events in flight Peeks
// once, then asks PeekMore for more as Acks free room in its window. Ack(n)
// still acks the oldest n handed out. An events.dropped event arising
// meanwhile is handed out first. With nothing handed out and unacked,
// PeekMore is Peek.
func (o *Outbox) PeekMore(max int) ([]events.Event, error) {
	o.mu.Lock()
	if len(o.peeked) == 0 {
		o.mu.Unlock()
		return o.Peek(max)
	}
	defer o.mu.Unlock()
	if o.closed {
		return nil, errors.New("outbox: closed")
	}
	if max <= 0 {
		return nil, nil
	}
	var out []events.Event
	if !slices.ContainsFunc(o.peeked, func(p peekedRec) bool { return p.dropped }) {
		if err := o.startDropped(); err != nil {
			return nil, err
		}
		if o.drops.Inflight != nil {
			out = append(out, *o.drops.Inflight)
			o.peeked = append(o.peeked, peekedRec{dropped: true})
		}
	}
	// Records resume after the newest one handed out. If overflow dropped its
	// segment, it dropped every older one too: resume at the oldest left.
	si, ri, mi := 0, 0, 0
	for i := len(o.peeked) - 1; i >= 0; i-- {
		p := o.peeked[i]
		if p.dropped {
			continue
		}
		if p.mem { // every record on disk came before it
			si = len(o.segs)
			mi = sort.Search(len(o.mem), func(j int) bool { return o.mem[j].seq > p.seq })
			break
		}
		for si < len(o.segs) && o.segs[si].id < p.seg {
			si++
		}
		if si < len(o.segs) && o.segs[si].id == p.seg {
			recs := o.segs[si].recs
			ri = sort.Search(len(recs), func(j int) bool { return recs[j].off > p.off })
		}
		break
	}
	return o.peekFrom(si, ri, mi, out, max), nil
}

// peekFrom appends to out, and hands out, the records from segs[si].recs[ri]
// on, then those in memory from mem[mi] on, until out holds max events. A
// record that cannot be read back is counted as dropped and skipped.
func (o *Outbox) peekFrom(si, ri, mi int, out []events.Event, max int) []events.Event {
	for si < len(o.segs) {
		seg := o.segs[si]
		if ri >= len(seg.recs) {
			si, ri = si+1, 0
			continue
		}
		if len(out) >= max {
			return out
		}
		r := seg.recs[ri]
		ev, err := o.read(seg.id, r)
		if err != nil {
			if o.unreadable != seg.id { // once per segment: a lost file fails every record
				o.unreadable = seg.id
				o.opt.Logger.Error("outbox: a stored event cannot be read back; counted as dropped", "file", o.path(segName(seg.id)), "offset", r.off, "err", err)
			}
			o.drops.add(1, events.DropUnreadable, r.time, r.time)
			o.saveDrops()
			seg.recs = slices.Delete(seg.recs, ri, ri+1)
			continue
		}
		out = append(out, ev)
		o.peeked = append(o.peeked, peekedRec{seg: seg.id, off: r.off})
		ri++
	}
	for ; mi < len(o.mem) && len(out) < max; mi++ {
		out = append(out, o.mem[mi].ev)
		o.peeked = append(o.peeked, peekedRec{mem: true, seq: o.mem[mi].seq})
	}
	return out
}

// startDropped turns pending drops into the events.dropped event, unless
// one is already on its way.
func (o *Outbox) startDropped() error {
	if o.drops.Inflight != nil || !o.drops.pending() {
		return nil
	}
	d := o.drops.Pending
	d.OutboxLimit = o.opt.MaxBytes
	ev, err := events.New(o.opt.Cluster, o.opt.Node, events.EventsDropped, "outbox", events.SeverityWarning, d, o.opt.Now())
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	o.drops.Inflight = &ev
	o.drops.Pending = events.DroppedData{}
	o.saveDrops()
	return nil
}

// saveDrops writes the drop accounting; while the directory fails it is
// kept in memory and written once it works.
func (o *Outbox) saveDrops() {
	if o.diskErr != nil || !o.ready {
		o.dropsDirty = true
		return
	}
	if err := writeAtomic(o.path(stateFile), o.drops, true); err != nil {
		o.dropsDirty = true
		o.fail(err)
	}
}

func (o *Outbox) read(id uint64, r recMeta) (events.Event, error) {
	name := o.path(segName(id))
	f := o.readers[id]
	if f == nil {
		var err error
		if f, err = os.Open(name); err != nil {
			return events.Event{}, fmt.Errorf("outbox: %w", err)
		}
		o.readers[id] = f
	}
	buf := make([]byte, headerBytes+int(r.n))
	if _, err := f.ReadAt(buf, r.off); err != nil {
		return events.Event{}, fmt.Errorf("outbox: %s: offset %d: %w", name, r.off, err)
	}
	payload, err := checkRecord(name, r.off, buf)
	if err != nil {
		return events.Event{}, err
	}
	var ev events.Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return events.Event{}, fmt.Errorf("outbox: %s: offset %d: %w", name, r.off, err)
	}
	return ev, nil
}

// Ack marks the first n events of the last Peek delivered and persists the
// cursor. Events of that Peek dropped meanwhile by overflow are skipped.
// Only a wrong n is an error: a cursor that cannot be written is written
// once the directory works (until then a restart re-delivers, which
// JetStream dedupes).
func (o *Outbox) Ack(n int) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return errors.New("outbox: closed")
	}
	if n < 0 || n > len(o.peeked) {
		return fmt.Errorf("outbox: ack %d, but the last peek returned %d", n, len(o.peeked))
	}
	acked := o.peeked[:n]
	o.peeked = o.peeked[n:]
	moved := false
	for _, p := range acked {
		switch {
		case p.dropped:
			o.drops.Inflight = nil
			o.saveDrops()
		case p.mem:
			// A memory record no longer at the head was dropped since.
			if len(o.mem) > 0 && o.mem[0].seq == p.seq {
				o.memBytes -= int64(len(o.mem[0].rec))
				o.mem[0] = memRec{}
				o.mem = o.mem[1:]
			}
		default:
			// dropDelivered keeps the head record in segs[0]. A peeked record
			// no longer at the head was dropped by overflow since the Peek.
			o.dropDelivered()
			if len(o.segs) == 0 {
				continue
			}
			if head := o.segs[0]; len(head.recs) > 0 && head.id == p.seg && head.recs[0].off == p.off {
				head.recs = head.recs[1:]
				moved = true
			}
		}
	}
	if !moved {
		return nil
	}
	o.dropDelivered()
	o.saveCursor()
	return nil
}

// saveCursor writes the cursor, or leaves it to be written once the
// directory works.
func (o *Outbox) saveCursor() {
	if o.diskErr != nil || o.cur == nil {
		o.cursorDirty = true
		return
	}
	if err := o.writeCursor(); err != nil {
		o.cursorDirty = true
		o.fail(err)
		return
	}
	o.cursorDirty = false
}

func (o *Outbox) writeCursor() error {
	if _, err := o.cur.WriteAt(o.cursor().encode(), 0); err != nil {
		return fmt.Errorf("outbox: write %s: %w", cursorFile, err)
	}
	if o.opt.Sync == SyncAlways {
		if err := o.cur.Sync(); err != nil {
			return fmt.Errorf("outbox: sync %s: %w", cursorFile, err)
		}
	} else {
		o.dirty = true
	}
	return nil
}

// dropDelivered removes sealed segments with nothing left to deliver.
func (o *Outbox) dropDelivered() {
	for len(o.segs) > 1 && len(o.segs[0].recs) == 0 {
		if err := o.removeSegment(0); err != nil {
			// Harmless for now (recover removes segments older than the
			// cursor), but the directory fails.
			o.opt.Logger.Warn("outbox: removing a delivered segment", "err", err)
			o.fail(err)
		}
	}
}

// cursor is the position of the next undelivered record.
func (o *Outbox) cursor() cursor {
	for _, s := range o.segs {
		if len(s.recs) > 0 {
			return cursor{Segment: s.id, Offset: s.recs[0].off}
		}
	}
	if len(o.segs) == 0 {
		return cursor{Segment: o.lastID + 1}
	}
	last := o.segs[len(o.segs)-1]
	return cursor{Segment: last.id, Offset: last.size}
}

// Len is the number of undelivered events, a pending events.dropped and
// the events kept in memory included.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := len(o.mem)
	for _, s := range o.segs {
		n += len(s.recs)
	}
	if o.drops.Inflight != nil || o.drops.pending() {
		n++
	}
	return n
}

// Bytes is the size of the segment files, the quantity MaxBytes bounds.
func (o *Outbox) Bytes() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.diskBytes()
}

// Dropped is how many events were ever dropped (overflow, corruption, a
// full memory buffer, too large): a lower bound when corrupt data could
// not be counted.
func (o *Outbox) Dropped() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.drops.Total
}

// Wait returns a channel closed by the next Append. Take it before draining,
// so an Append during the drain is not missed:
//
//	for { ch := o.Wait(); o.Drain(...); select { case <-ch: case <-ctx.Done(): return } }
func (o *Outbox) Wait() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.notify
}

// maintain syncs (SyncInterval) and retries a failed directory.
func (o *Outbox) maintain() {
	defer close(o.done)
	t := time.NewTicker(min(o.opt.SyncInterval, o.opt.RetryInterval))
	defer t.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-t.C:
			o.mu.Lock()
			if !o.closed {
				if o.dirty && o.w != nil {
					if err := errors.Join(o.w.Sync(), o.cur.Sync()); err != nil {
						o.fail(fmt.Errorf("outbox: sync: %w", err))
					} else {
						o.dirty = false
					}
				}
				o.retryDisk(false)
			}
			o.mu.Unlock()
		}
	}
}

// Close syncs and closes the files. Events still in memory are written if
// the directory works by now; if not they are lost, which is logged. The
// Outbox is unusable after.
func (o *Outbox) Close() error {
	if o.stop != nil {
		close(o.stop)
		<-o.done
		o.stop = nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	if o.diskErr != nil {
		o.retryDisk(true)
	}
	o.closed = true
	if n := len(o.mem); n > 0 {
		o.opt.Logger.Error("outbox: events kept in memory are lost: the state directory still cannot be written",
			"count", n, "dir", o.opt.Dir, "err", o.diskErr)
	}
	var err error
	if o.w != nil {
		err = errors.Join(o.w.Sync(), o.cur.Sync())
	}
	return errors.Join(err, o.closeFiles())
}

func (o *Outbox) closeFiles() error {
	var errs []error
	for _, f := range []**os.File{&o.w, &o.cur} {
		if *f != nil {
			errs = append(errs, (*f).Close())
			*f = nil
		}
	}
	ids := make([]uint64, 0, len(o.readers))
	for id := range o.readers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		errs = append(errs, o.readers[id].Close())
		delete(o.readers, id)
	}
	return errors.Join(errs...)
}
