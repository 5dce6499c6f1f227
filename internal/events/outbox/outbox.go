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
	DefaultMaxBytes     = 64 << 20
	DefaultSegmentBytes = 1 << 20
	DefaultSyncInterval = 200 * time.Millisecond
)

// Options configure an Outbox. Only Dir is required.
type Options struct {
	Dir          string
	MaxBytes     int64 // bound on the segment files; oldest dropped beyond it
	SegmentBytes int64 // segment rotation size; clamped to MaxBytes/2
	Sync         SyncPolicy
	SyncInterval time.Duration
	// Cluster and Node are the source of the events.dropped event.
	Cluster, Node string
	Now           func() time.Time
	Logger        *slog.Logger
}

// Outbox is safe for concurrent use.
type Outbox struct {
	opt Options

	mu      sync.Mutex
	segs    []*segment // oldest first; the last is the one appended to
	w       *os.File   // the last segment, for appending
	cur     *os.File   // the cursor file, rewritten in place
	readers map[uint64]*os.File
	drops   dropState
	peeked  []peekedRec // what the last Peek handed out
	dirty   bool        // appended since the last fsync (SyncInterval)
	notify  chan struct{}
	closed  bool

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

// peekedRec identifies one thing Peek handed out: a record by position, or
// (dropped) the events.dropped event.
type peekedRec struct {
	dropped bool
	seg     uint64
	off     int64
}

func segName(id uint64) string { return fmt.Sprintf("%012d.seg", id) }

func (o *Outbox) path(name string) string { return filepath.Join(o.opt.Dir, name) }

// Open opens or creates the outbox in o.Dir (mode 0700) and recovers it:
// resumes at the cursor, cuts a torn tail off the newest segment, skips and
// counts records whose CRC fails, and finishes any interrupted drop. A
// segment whose record lengths cannot be trusted is reported as a
// *CorruptError naming the file and offset.
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
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opt.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	o := &Outbox{opt: opt, readers: map[uint64]*os.File{}, notify: make(chan struct{})}
	if err := o.recover(); err != nil {
		o.closeFiles()
		return nil, err
	}
	if opt.Sync == SyncInterval {
		o.stop, o.done = make(chan struct{}), make(chan struct{})
		go o.syncLoop()
	}
	return o, nil
}

func (o *Outbox) recover() error {
	if _, err := readJSON(o.path(stateFile), &o.drops); err != nil {
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
	for i, id := range ids {
		name := o.path(segName(id))
		// Delivered, or counted as dropped: finish the interrupted removal.
		if id < cur.Segment || id <= o.drops.DroppedThrough {
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
		o.drops.add(skipped, time.Time{}, time.Time{})
		if err := writeAtomic(o.path(stateFile), o.drops, true); err != nil {
			return err
		}
	}
	next := max(cur.Segment, o.drops.DroppedThrough) + 1
	if n := len(o.segs); n > 0 {
		next = o.segs[n-1].id
	}
	if err := o.openWriter(next); err != nil {
		return err
	}
	o.dropDelivered()
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
// dropped and counted.
func (o *Outbox) Append(e events.Event) error {
	payload, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("outbox: event %s: %w", e.ID, err)
	}
	rec := encodeRecord(payload)
	if len(payload) > maxPayload || int64(len(rec)) > o.opt.MaxBytes/2 {
		return fmt.Errorf("outbox: event %s is %d bytes, more than the outbox takes", e.ID, len(rec))
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return errors.New("outbox: closed")
	}
	active := o.segs[len(o.segs)-1]
	if active.size > 0 && active.size+int64(len(rec)) > o.opt.SegmentBytes {
		if err := o.rotate(); err != nil {
			return err
		}
		active = o.segs[len(o.segs)-1]
	}
	// One write per record: a crash leaves it whole or a torn tail.
	if _, err := o.w.Write(rec); err != nil {
		// Cut what part of it got written, so the next record is not hidden
		// behind a torn one in the middle of the segment.
		_ = o.w.Truncate(active.size)
		return fmt.Errorf("outbox: append to %s: %w", segName(active.id), err)
	}
	if o.opt.Sync == SyncAlways {
		if err := o.w.Sync(); err != nil {
			return fmt.Errorf("outbox: sync %s: %w", segName(active.id), err)
		}
	} else {
		o.dirty = true
	}
	active.recs = append(active.recs, recMeta{off: active.size, n: uint32(len(payload)), time: e.Time})
	active.size += int64(len(rec))
	close(o.notify)
	o.notify = make(chan struct{})
	return o.enforceBound()
}

// rotate seals the current segment and starts the next.
func (o *Outbox) rotate() error {
	cur := o.segs[len(o.segs)-1]
	// Sealed segments are synced so only the newest can have a torn tail.
	if err := o.w.Sync(); err != nil {
		return fmt.Errorf("outbox: sync %s: %w", segName(cur.id), err)
	}
	if err := o.w.Close(); err != nil {
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
	for o.diskBytes() > o.opt.MaxBytes && len(o.segs) > 1 {
		seg := o.segs[0]
		if n := len(seg.recs); n > 0 {
			o.drops.add(n, seg.recs[0].time, seg.recs[n-1].time)
			o.opt.Logger.Warn("outbox full, dropped the oldest events", "count", n, "file", segName(seg.id), "limit_bytes", o.opt.MaxBytes)
		}
		o.drops.DroppedThrough = seg.id
		// Count before deleting: a crash in between must not lose the count,
		// and DroppedThrough keeps it from being counted twice.
		if err := writeAtomic(o.path(stateFile), o.drops, true); err != nil {
			return err
		}
		if err := o.removeSegment(0); err != nil {
			return err
		}
	}
	return nil
}

func (o *Outbox) diskBytes() int64 {
	var n int64
	for _, s := range o.segs {
		n += s.size
	}
	return n
}

// removeSegment deletes segs[i]'s file and forgets it.
func (o *Outbox) removeSegment(i int) error {
	seg := o.segs[i]
	if r := o.readers[seg.id]; r != nil {
		r.Close()
		delete(o.readers, seg.id)
	}
	if err := os.Remove(o.path(segName(seg.id))); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	o.segs = slices.Delete(o.segs, i, i+1)
	return nil
}

// Peek returns up to max of the next undelivered events in order without
// removing them; a pending events.dropped event comes first. Repeated Peeks
// without Ack return the same events (with the same IDs).
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
	return o.peekFrom(0, 0, out, max)
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
	si, ri := 0, 0
	for i := len(o.peeked) - 1; i >= 0; i-- {
		p := o.peeked[i]
		if p.dropped {
			continue
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
	return o.peekFrom(si, ri, out, max)
}

// peekFrom appends to out, and hands out, the records from segs[si].recs[ri]
// on until out holds max events.
func (o *Outbox) peekFrom(si, ri int, out []events.Event, max int) ([]events.Event, error) {
	for ; si < len(o.segs); si, ri = si+1, 0 {
		seg := o.segs[si]
		for ; ri < len(seg.recs); ri++ {
			if len(out) >= max {
				return out, nil
			}
			r := seg.recs[ri]
			ev, err := o.read(seg.id, r)
			if err != nil {
				return out, err
			}
			out = append(out, ev)
			o.peeked = append(o.peeked, peekedRec{seg: seg.id, off: r.off})
		}
	}
	return out, nil
}

// startDropped turns pending drops into the events.dropped event, unless
// one is already on its way.
func (o *Outbox) startDropped() error {
	if o.drops.Inflight != nil || o.drops.Pending.Count == 0 {
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
	return writeAtomic(o.path(stateFile), o.drops, true)
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
		if p.dropped {
			o.drops.Inflight = nil
			if err := writeAtomic(o.path(stateFile), o.drops, true); err != nil {
				return err
			}
			continue
		}
		// dropDelivered keeps the head record in segs[0]. A peeked record no
		// longer at the head was dropped by overflow since the Peek.
		o.dropDelivered()
		if head := o.segs[0]; len(head.recs) > 0 && head.id == p.seg && head.recs[0].off == p.off {
			head.recs = head.recs[1:]
			moved = true
		}
	}
	if !moved {
		return nil
	}
	o.dropDelivered()
	return o.writeCursor()
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
			// Harmless: recover removes segments older than the cursor.
			o.opt.Logger.Warn("outbox: removing a delivered segment", "err", err)
			return
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
	last := o.segs[len(o.segs)-1]
	return cursor{Segment: last.id, Offset: last.size}
}

// Len is the number of undelivered events, a pending events.dropped included.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, s := range o.segs {
		n += len(s.recs)
	}
	if o.drops.Inflight != nil || o.drops.Pending.Count > 0 {
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

// Dropped is how many events were ever dropped (overflow or corruption).
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

func (o *Outbox) syncLoop() {
	defer close(o.done)
	t := time.NewTicker(o.opt.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-t.C:
			o.mu.Lock()
			if o.dirty && !o.closed {
				if err := errors.Join(o.w.Sync(), o.cur.Sync()); err != nil {
					o.opt.Logger.Error("outbox: sync", "err", err)
				} else {
					o.dirty = false
				}
			}
			o.mu.Unlock()
		}
	}
}

// Close syncs and closes the files. The Outbox is unusable after.
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
	o.closed = true
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
