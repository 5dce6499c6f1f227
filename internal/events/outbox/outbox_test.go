package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// seqEvent is event number seq; its Subject carries seq and its Time
// advances a second per seq, so tests can check order and the dropped span.
func seqEvent(tb testing.TB, seq int) events.Event {
	tb.Helper()
	e, err := events.New("prod", "kuma-core-1", events.CheckStatusChanged, "seq-"+strconv.Itoa(seq),
		events.SeverityInfo, events.CheckData{Check: "disk", From: "ok", To: "warn", Message: "padding padding padding"},
		t0.Add(time.Duration(seq)*time.Second))
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func seqOf(tb testing.TB, e events.Event) int {
	tb.Helper()
	s, ok := strings.CutPrefix(e.Subject, "seq-")
	if !ok {
		tb.Fatalf("event %s %s has no seq subject %q", e.ID, e.Type, e.Subject)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func open(tb testing.TB, o Options) *Outbox {
	tb.Helper()
	ob, err := Open(o)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { ob.Close() })
	return ob
}

func appendN(tb testing.TB, ob *Outbox, from, to int) {
	tb.Helper()
	for i := from; i < to; i++ {
		if err := ob.Append(seqEvent(tb, i)); err != nil {
			tb.Fatalf("Append %d: %v", i, err)
		}
	}
}

// drainAll peeks and acks in batches until empty and returns everything.
func drainAll(tb testing.TB, ob *Outbox, batch int) []events.Event {
	tb.Helper()
	var all []events.Event
	for {
		evs, err := ob.Peek(batch)
		if err != nil {
			tb.Fatalf("Peek: %v", err)
		}
		if len(evs) == 0 {
			return all
		}
		all = append(all, evs...)
		if err := ob.Ack(len(evs)); err != nil {
			tb.Fatalf("Ack: %v", err)
		}
	}
}

func wantSeqs(tb testing.TB, evs []events.Event, from, to int) {
	tb.Helper()
	if len(evs) != to-from {
		tb.Fatalf("got %d events, want %d (seq %d..%d)", len(evs), to-from, from, to-1)
	}
	for i, e := range evs {
		if got := seqOf(tb, e); got != from+i {
			tb.Fatalf("event %d has seq %d, want %d", i, got, from+i)
		}
	}
}

func TestOrderAcrossAckAndRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")  // Open creates it
	opt := Options{Dir: dir, SegmentBytes: 2048} // several segments
	ob := open(t, opt)
	appendN(t, ob, 0, 50)
	if ob.Len() != 50 {
		t.Fatalf("Len = %d, want 50", ob.Len())
	}
	first, err := ob.Peek(10)
	if err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, first, 0, 10)
	again, _ := ob.Peek(10)
	if again[0].ID != first[0].ID {
		t.Fatal("a second Peek without Ack returned different events")
	}
	if err := ob.Ack(7); err != nil {
		t.Fatal(err)
	}
	if err := ob.Ack(4); err == nil {
		t.Fatal("Ack beyond the peeked events succeeded")
	}
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}

	ob = open(t, opt)
	if ob.Len() != 43 {
		t.Fatalf("after reopen Len = %d, want 43", ob.Len())
	}
	appendN(t, ob, 50, 60)
	wantSeqs(t, drainAll(t, ob, 8), 7, 60)
	if ob.Len() != 0 {
		t.Fatalf("Len = %d after draining", ob.Len())
	}
	ob.Close()

	// Drained segments are gone and a reopen delivers nothing again.
	ob = open(t, opt)
	if evs := drainAll(t, ob, 100); len(evs) != 0 {
		t.Fatalf("re-delivered %d events after a full drain", len(evs))
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) != 1 {
		t.Fatalf("%d segment files left after draining, want 1 (the active one): %v", len(segs), segs)
	}
	st, _ := os.Stat(dir)
	if st.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v, want 0700", st.Mode().Perm())
	}
}

func TestOverflowDropsOldestAndReports(t *testing.T) {
	dir := t.TempDir()
	recBytes := int64(len(encodeRecord(mustJSON(t, seqEvent(t, 0)))))
	opt := Options{Dir: dir, MaxBytes: 20 * recBytes, SegmentBytes: 5 * recBytes, Cluster: "prod", Node: "kuma-core-1",
		Now: func() time.Time { return t0.Add(time.Hour) }}
	ob := open(t, opt)
	const total = 100
	appendN(t, ob, 0, total)
	if ob.Bytes() > opt.MaxBytes {
		t.Fatalf("Bytes = %d over MaxBytes %d", ob.Bytes(), opt.MaxBytes)
	}
	dropped := ob.Dropped()
	if dropped == 0 {
		t.Fatal("nothing dropped though 100 records do not fit in 20")
	}
	// Exact: everything appended is either dropped or still queued.
	if kept := ob.Len() - 1; uint64(kept)+dropped != total {
		t.Fatalf("kept %d + dropped %d != %d appended", kept, dropped, total)
	}
	ob.Close()

	ob = open(t, opt) // the count survives a restart
	if ob.Dropped() != dropped {
		t.Fatalf("after reopen Dropped = %d, want %d", ob.Dropped(), dropped)
	}
	evs := drainAll(t, ob, 7)
	d := evs[0]
	if d.ShortType() != events.EventsDropped {
		t.Fatalf("first event is %s, want %s", d.Type, events.EventsDropped)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	var data events.DroppedData
	if err := json.Unmarshal(d.Data, &data); err != nil {
		t.Fatal(err)
	}
	if data.Count != dropped || data.OutboxLimit != opt.MaxBytes {
		t.Fatalf("dropped event %+v, want count %d limit %d", data, dropped, opt.MaxBytes)
	}
	if !data.OldestTime.Equal(seqEvent(t, 0).Time) || !data.NewestTime.Equal(seqEvent(t, int(dropped)-1).Time) {
		t.Fatalf("dropped span %v..%v, want the times of seq 0..%d", data.OldestTime, data.NewestTime, dropped-1)
	}
	if d.Node() != "kuma-core-1" {
		t.Fatalf("dropped event source %q", d.Source)
	}
	wantSeqs(t, evs[1:], int(dropped), total)
	ob.Close()

	// Reported once: not again after a restart, but the total stays.
	ob = open(t, opt)
	if evs := drainAll(t, ob, 10); len(evs) != 0 {
		t.Fatalf("after reopen got %d events, want none", len(evs))
	}
	if ob.Dropped() != dropped {
		t.Fatalf("Dropped = %d, want %d", ob.Dropped(), dropped)
	}
}

func TestDroppedEventKeepsIDUntilAcked(t *testing.T) {
	recBytes := int64(len(encodeRecord(mustJSON(t, seqEvent(t, 0)))))
	opt := Options{Dir: t.TempDir(), MaxBytes: 4 * recBytes, SegmentBytes: recBytes}
	ob := open(t, opt)
	appendN(t, ob, 0, 10)
	a, _ := ob.Peek(1)
	ob.Close()
	ob = open(t, opt)
	b, _ := ob.Peek(1)
	if len(a) != 1 || len(b) != 1 || a[0].ID != b[0].ID || a[0].ShortType() != events.EventsDropped {
		t.Fatalf("dropped event before/after restart: %v / %v; want the same ID (JetStream dedupes re-sends)", a, b)
	}
	// Drops after the Peek go into a new dropped event, not the in-flight one.
	appendN(t, ob, 10, 20)
	evs := drainAll(t, ob, 100)
	var counts []uint64
	for _, e := range evs {
		if e.ShortType() == events.EventsDropped {
			var d events.DroppedData
			json.Unmarshal(e.Data, &d)
			counts = append(counts, d.Count)
		}
	}
	var sum uint64
	for _, c := range counts {
		sum += c
	}
	if len(counts) != 2 || sum != ob.Dropped() || uint64(len(evs)-2)+sum != 20 {
		t.Fatalf("dropped counts %v (total %d) and %d events; want 2 reports summing to Dropped and nothing unaccounted", counts, ob.Dropped(), len(evs)-2)
	}
}

func mustJSON(tb testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func lastSegment(tb testing.TB, dir string) string {
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) == 0 {
		tb.Fatal("no segments")
	}
	return segs[len(segs)-1]
}

func TestTornTail(t *testing.T) {
	cases := []struct {
		name   string
		damage func(tb testing.TB, path string)
		wantN  int
	}{
		{"garbage appended", func(tb testing.TB, p string) { appendBytes(tb, p, []byte{0x12, 0x34, 0x56}) }, 10},
		{"zeros appended", func(tb testing.TB, p string) { appendBytes(tb, p, make([]byte, 4096)) }, 10},
		{"header past end", func(tb testing.TB, p string) { appendBytes(tb, p, encodeRecord([]byte(`{"id":"x"}`))[:6]) }, 10},
		{"last record cut", func(tb testing.TB, p string) { truncateBy(tb, p, 20) }, 9},
		{"last record CRC bad", func(tb testing.TB, p string) { flipByte(tb, p, -3) }, 9},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			opt := Options{Dir: dir}
			ob := open(t, opt)
			appendN(t, ob, 0, 10)
			ob.Close()
			c.damage(t, lastSegment(t, dir))
			ob = open(t, opt)
			wantSeqs(t, drainAll(t, ob, 3), 0, c.wantN)
			// Appends after recovery land after the cut, readable.
			appendN(t, ob, 100, 102)
			ob.Close()
			ob = open(t, opt)
			wantSeqs(t, drainAll(t, ob, 3), 100, 102)
		})
	}
}

func TestCorruptMiddleRecordSkippedAndCounted(t *testing.T) {
	dir := t.TempDir()
	opt := Options{Dir: dir}
	ob := open(t, opt)
	appendN(t, ob, 0, 3)
	ob.Close()
	seg := lastSegment(t, dir)
	b, _ := os.ReadFile(seg)
	recLen := len(b) / 3
	b[recLen+headerBytes+5] ^= 0xff // payload of record 1
	os.WriteFile(seg, b, 0o600)

	ob = open(t, opt)
	evs := drainAll(t, ob, 10)
	if len(evs) != 3 || evs[0].ShortType() != events.EventsDropped || seqOf(t, evs[1]) != 0 || seqOf(t, evs[2]) != 2 {
		t.Fatalf("got %v, want events.dropped, seq 0, seq 2", evs)
	}
	if ob.Dropped() != 1 {
		t.Fatalf("Dropped = %d, want 1", ob.Dropped())
	}
}

func TestDrainStopsAtErrorAndResumes(t *testing.T) {
	ob := open(t, Options{Dir: t.TempDir()})
	appendN(t, ob, 0, 20)
	var got []events.Event
	fail := errors.New("nats down")
	calls := 0
	publish := func(_ context.Context, e events.Event) error {
		calls++
		if calls == 8 { // the 8th publish fails: seq 7
			return fail
		}
		got = append(got, e)
		return nil
	}
	n, err := ob.Drain(context.Background(), publish, 3)
	if !errors.Is(err, fail) || n != 7 {
		t.Fatalf("Drain = %d, %v; want 7, %v", n, err, fail)
	}
	if ob.Len() != 13 {
		t.Fatalf("Len = %d after a failed drain, want 13", ob.Len())
	}
	n, err = ob.Drain(context.Background(), publish, 3)
	if err != nil || n != 13 {
		t.Fatalf("second Drain = %d, %v", n, err)
	}
	wantSeqs(t, got, 0, 20)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	appendN(t, ob, 20, 21)
	if n, err := ob.Drain(ctx, publish, 3); !errors.Is(err, context.Canceled) || n != 0 {
		t.Fatalf("Drain with a cancelled ctx = %d, %v", n, err)
	}
}

func TestWaitSignalsAppend(t *testing.T) {
	ob := open(t, Options{Dir: t.TempDir(), Sync: SyncInterval})
	ch := ob.Wait()
	select {
	case <-ch:
		t.Fatal("Wait fired before any Append")
	default:
	}
	appendN(t, ob, 0, 1)
	select {
	case <-ch:
	default:
		t.Fatal("Wait did not fire on Append")
	}
	if next := ob.Wait(); next == ch {
		t.Fatal("Wait returned the spent channel")
	}
}

func TestAppendTooLarge(t *testing.T) {
	ob := open(t, Options{Dir: t.TempDir(), MaxBytes: 1024})
	e := seqEvent(t, 0)
	e.Data = json.RawMessage(fmt.Sprintf("%q", strings.Repeat("x", 2000)))
	if err := ob.Append(e); err == nil {
		t.Fatal("Append of an event larger than the outbox succeeded")
	}
	// Not kept, but counted and announced.
	if ob.Dropped() != 1 {
		t.Fatalf("Dropped = %d, want 1", ob.Dropped())
	}
	evs := drainAll(t, ob, 10)
	if len(evs) != 1 || droppedData(t, evs[0]).Reasons[events.DropTooLarge] != 1 {
		t.Fatalf("got %v, want one events.dropped for the too-large event", evs)
	}
}

func appendBytes(tb testing.TB, path string, b []byte) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		tb.Fatal(err)
	}
}

func truncateBy(tb testing.TB, path string, n int64) {
	st, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.Truncate(path, st.Size()-n); err != nil {
		tb.Fatal(err)
	}
}

func flipByte(tb testing.TB, path string, fromEnd int) {
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	b[len(b)+fromEnd] ^= 0xff
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatal(err)
	}
}

func TestOverflowBetweenPeekAndAck(t *testing.T) {
	recBytes := int64(len(encodeRecord(mustJSON(t, seqEvent(t, 0)))))
	opt := Options{Dir: t.TempDir(), MaxBytes: 8 * recBytes, SegmentBytes: 2 * recBytes}
	ob := open(t, opt)
	appendN(t, ob, 0, 4)
	peeked, _ := ob.Peek(4)
	wantSeqs(t, peeked, 0, 4)
	appendN(t, ob, 4, 12) // drops seq 0..3 (and maybe more) while they are out for delivery
	dropped := ob.Dropped()
	if dropped < 4 {
		t.Fatalf("Dropped = %d, want the 4 peeked ones at least", dropped)
	}
	// Acking them must not swallow the newer events that took their place.
	if err := ob.Ack(4); err != nil {
		t.Fatal(err)
	}
	evs := drainAll(t, ob, 100)
	if evs[0].ShortType() != events.EventsDropped {
		t.Fatalf("first event %s, want events.dropped", evs[0].Type)
	}
	wantSeqs(t, evs[1:], int(dropped), 12)
}

func TestBadCursorRedeliversNotLoses(t *testing.T) {
	dir := t.TempDir()
	opt := Options{Dir: dir}
	ob := open(t, opt)
	appendN(t, ob, 0, 5)
	ob.Peek(2)
	ob.Ack(2)
	ob.Close()
	if err := os.WriteFile(filepath.Join(dir, cursorFile), []byte("torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	ob = open(t, opt)
	wantSeqs(t, drainAll(t, ob, 10), 0, 5)
}
