package outbox

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/testlab/tmpfs"
)

func droppedData(tb testing.TB, e events.Event) events.DroppedData {
	tb.Helper()
	if e.ShortType() != events.EventsDropped {
		tb.Fatalf("event %s %s, want %s", e.ID, e.Type, events.EventsDropped)
	}
	var d events.DroppedData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		tb.Fatal(err)
	}
	return d
}

// splitDropped separates the events.dropped events from the others and
// sums their counts.
func splitDropped(tb testing.TB, evs []events.Event) (rest []events.Event, reports []events.DroppedData, sum uint64) {
	tb.Helper()
	for _, e := range evs {
		if e.ShortType() == events.EventsDropped {
			d := droppedData(tb, e)
			reports = append(reports, d)
			sum += d.Count
			continue
		}
		rest = append(rest, e)
	}
	return rest, reports, sum
}

func quarantined(tb testing.TB, dir string) []string {
	tb.Helper()
	m, err := filepath.Glob(filepath.Join(dir, QuarantineDir, "*"))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// setLength overwrites the length field of the record at off.
func setLength(tb testing.TB, path string, off int64, n uint32) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	binary.LittleEndian.PutUint32(b[off:], n)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// Finding 4 of "Trust nothing you did not authenticate": one corrupt
// segment (`...seg: offset 12576: implausible record length 2147483647`)
// made Open fail, and the agent exit for good. Now the segment is moved to
// quarantine, its intact records are kept (before and after the damage),
// the lost one is counted and an events.dropped says why.
func TestCorruptRecordMidSegmentQuarantined(t *testing.T) {
	dir := t.TempDir()
	opt := Options{Dir: dir}
	ob := open(t, opt)
	appendN(t, ob, 0, 60)
	ob.Close()
	seg := lastSegment(t, dir)
	const damaged = 40
	var off int64 // of record 40
	for i := range damaged {
		off += int64(len(encodeRecord(mustJSON(t, seqEvent(t, i)))))
	}
	setLength(t, seg, off, 2147483647)

	ob = open(t, opt)
	if h := ob.Health(); h.Err != nil || len(h.Quarantined) != 1 {
		t.Fatalf("Health = %+v; want a working directory and one quarantined file", h)
	}
	q := quarantined(t, dir)
	if len(q) != 1 || !slices.Contains(ob.Health().Quarantined, filepath.Base(q[0])) {
		t.Fatalf("quarantine holds %v", q)
	}
	if ob.Dropped() != 1 {
		t.Fatalf("Dropped = %d, want 1", ob.Dropped())
	}
	evs := drainAll(t, ob, 16)
	rest, reports, sum := splitDropped(t, evs)
	if len(reports) != 1 || sum != 1 || reports[0].Reasons[events.DropCorrupt] != 1 || !reports[0].Uncounted ||
		!slices.Equal(reports[0].Quarantined, []string{filepath.Base(q[0])}) {
		t.Fatalf("events.dropped %+v; want count 1 (corrupt, a lower bound) naming %s", reports, filepath.Base(q[0]))
	}
	if evs[0].ShortType() != events.EventsDropped {
		t.Fatal("events.dropped is not first")
	}
	want := slices.Collect(func(yield func(int) bool) {
		for i := range 60 {
			if i != damaged && !yield(i) {
				return
			}
		}
	})
	var got []int
	for _, e := range rest {
		got = append(got, seqOf(t, e))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want every seq but %d", got, damaged)
	}
	// The repaired segment opens clean: nothing quarantined or counted again.
	appendN(t, ob, 60, 62)
	ob.Close()
	ob = open(t, opt)
	wantSeqs(t, drainAll(t, ob, 10), 60, 62)
	if len(quarantined(t, dir)) != 1 || ob.Dropped() != 1 {
		t.Fatalf("after reopen: quarantine %v, Dropped %d", quarantined(t, dir), ob.Dropped())
	}
}

// A sealed segment whose first length is implausible: Open used to fail
// with a CorruptError; the segment is quarantined and what follows the
// damage is kept.
func TestCorruptSealedSegmentQuarantined(t *testing.T) {
	dir := t.TempDir()
	opt := Options{Dir: dir, SegmentBytes: 1024}
	ob := open(t, opt)
	appendN(t, ob, 0, 20)
	ob.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) < 2 {
		t.Fatal("want several segments")
	}
	b, _ := os.ReadFile(segs[0])
	for i := range b { // the whole first segment is garbage
		b[i] = 0xa5
	}
	os.WriteFile(segs[0], b, 0o600)
	ob = open(t, opt)
	perSeg := int(int64(len(b)) / int64(len(encodeRecord(mustJSON(t, seqEvent(t, 0))))))
	evs := drainAll(t, ob, 100)
	rest, reports, sum := splitDropped(t, evs)
	if len(reports) != 1 || sum != 1 || !reports[0].Uncounted {
		t.Fatalf("reports %+v; want one, counting the damaged stretch as one (a lower bound)", reports)
	}
	wantSeqs(t, rest, perSeg, 20)
	if len(quarantined(t, dir)) != 1 {
		t.Fatalf("quarantine holds %v", quarantined(t, dir))
	}
}

// A drop accounting file that is not JSON is quarantined too, and the
// report says counts may be missing.
func TestCorruptDropStateQuarantined(t *testing.T) {
	dir := t.TempDir()
	ob := open(t, Options{Dir: dir})
	appendN(t, ob, 0, 3)
	ob.Close()
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	ob = open(t, Options{Dir: dir})
	evs := drainAll(t, ob, 10)
	rest, reports, _ := splitDropped(t, evs)
	if len(reports) != 1 || !reports[0].Uncounted || len(reports[0].Quarantined) != 1 {
		t.Fatalf("reports %+v, want one: uncounted, naming the quarantined file", reports)
	}
	wantSeqs(t, rest, 0, 3)
}

// A segment file that disappears under a running outbox: its events are
// counted as dropped (unreadable), not handed out as errors forever.
func TestUnreadableSegmentCounted(t *testing.T) {
	dir := t.TempDir()
	ob := open(t, Options{Dir: dir, SegmentBytes: 1024})
	appendN(t, ob, 0, 20)
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err := os.Remove(segs[0]); err != nil {
		t.Fatal(err)
	}
	evs := drainAll(t, ob, 100)
	rest, reports, sum := splitDropped(t, evs)
	if len(reports) != 1 || reports[0].Reasons[events.DropUnreadable] != sum || sum == 0 {
		t.Fatalf("reports %+v", reports)
	}
	wantSeqs(t, rest, int(sum), 20)
}

// A read-only state directory (read-only at Open, as after the kernel
// remounted it on errors): Open works, events are kept in memory and handed
// out from there; once the directory is writable again the events already
// on disk come first, then those from memory, and nothing is lost.
func TestReadOnlyDirKeepsEventsInMemory(t *testing.T) {
	if !tmpfs.InNamespace(t) {
		return
	}
	mnt := tmpfs.Mount(t, 4<<20)
	dir := filepath.Join(mnt, "outbox")
	opt := Options{Dir: dir, RetryInterval: 50 * time.Millisecond}
	ob := open(t, opt)
	appendN(t, ob, 0, 5) // on disk
	ob.Close()
	tmpfs.ReadOnly(t, mnt)

	ob, err := Open(opt)
	if err != nil {
		t.Fatalf("Open on a read-only directory: %v", err)
	}
	defer ob.Close()
	if h := ob.Health(); !errors.Is(h.Err, syscall.EROFS) {
		t.Fatalf("Health().Err = %v, want EROFS", h.Err)
	}
	appendN(t, ob, 5, 10)
	if h := ob.Health(); h.MemoryEvents != 5 {
		t.Fatalf("Health = %+v, want 5 events in memory", h)
	}
	// Handed out from memory (the disk's five wait on the disk); one acked.
	evs, err := ob.Peek(2)
	if err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, evs, 5, 7)
	if err := ob.Ack(1); err != nil {
		t.Fatal(err)
	}
	tmpfs.ReadWrite(t, mnt)
	deadline := time.Now().Add(5 * time.Second)
	for ob.Health().Err != nil {
		if time.Now().After(deadline) {
			t.Fatalf("still degraded after the remount: %+v", ob.Health())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The disk's events first, then the rest of memory, after seq 5 (acked).
	got := drainAll(t, ob, 3)
	var seqs []int
	for _, e := range got {
		seqs = append(seqs, seqOf(t, e))
	}
	if !slices.Equal(seqs, []int{0, 1, 2, 3, 4, 6, 7, 8, 9}) {
		t.Fatalf("after recovery delivered %v", seqs)
	}
	if ob.Dropped() != 0 {
		t.Fatalf("Dropped = %d", ob.Dropped())
	}
	// And the memory events are on disk now: a restart has nothing to resend.
	ob.Close()
	ob2 := open(t, opt)
	if n := ob2.Len(); n != 0 {
		t.Fatalf("Len after reopen = %d", n)
	}
}

// Finding 5: with the state directory on a full file system, events were
// lost with one ERROR line each and never counted. Now they are kept in
// memory up to its bound; beyond it the oldest are dropped, and every one
// is counted and announced; once space is back, everything kept is stored.
func TestFullDiskCountsEveryLostEvent(t *testing.T) {
	if !tmpfs.InNamespace(t) {
		return
	}
	mnt := tmpfs.Mount(t, 1<<20)
	recBytes := int64(len(encodeRecord(mustJSON(t, seqEvent(t, 0)))))
	opt := Options{Dir: filepath.Join(mnt, "outbox"), Sync: SyncAlways, MemoryBytes: 10 * recBytes, RetryInterval: 50 * time.Millisecond}
	ob := open(t, opt)
	appendN(t, ob, 0, 5)
	filler := tmpfs.Fill(t, mnt)
	const total = 200
	appendN(t, ob, 5, total) // no error: kept in memory or counted
	h := ob.Health()
	if !errors.Is(h.Err, syscall.ENOSPC) {
		t.Fatalf("Health().Err = %v, want ENOSPC", h.Err)
	}
	if h.MemoryBytes > opt.MemoryBytes || h.MemoryEvents == 0 {
		t.Fatalf("memory %+v over its bound %d", h, opt.MemoryBytes)
	}
	dropped := ob.Dropped()
	if dropped == 0 {
		t.Fatal("nothing counted though memory holds 10 and the disk nothing more")
	}
	// Delivered from disk and memory while the disk is full: the report
	// first, every event either delivered or counted.
	evs, err := ob.Peek(1000)
	if err != nil {
		t.Fatal(err)
	}
	rest, reports, sum := splitDropped(t, evs)
	if len(reports) != 1 || sum != dropped || reports[0].Reasons[events.DropMemory] != dropped {
		t.Fatalf("reports %+v, want one counting the %d dropped (memory-full)", reports, dropped)
	}
	if uint64(len(rest))+dropped != total {
		t.Fatalf("%d delivered + %d dropped != %d appended", len(rest), dropped, total)
	}
	for i := 1; i < len(rest); i++ {
		if seqOf(t, rest[i]) <= seqOf(t, rest[i-1]) {
			t.Fatalf("out of order: %d after %d", seqOf(t, rest[i]), seqOf(t, rest[i-1]))
		}
	}
	// Space comes back before the Ack: memory is flushed, the handed-out
	// events become disk records, and the Ack still finds them.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for ob.Health().Err != nil {
		if time.Now().After(deadline) {
			t.Fatalf("still degraded with space back: %+v", ob.Health())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := ob.Ack(len(evs)); err != nil {
		t.Fatal(err)
	}
	if n := ob.Len(); n != 0 {
		t.Fatalf("Len = %d after acking everything", n)
	}
	ob.Close()
	ob = open(t, opt)
	if evs := drainAll(t, ob, 100); len(evs) != 0 || ob.Dropped() != dropped {
		t.Fatalf("after reopen: %d events re-delivered, Dropped %d (want 0, %d)", len(evs), ob.Dropped(), dropped)
	}
}
