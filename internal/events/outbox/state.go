package outbox

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

const (
	cursorFile = "cursor"
	stateFile  = "dropped.json"
)

// cursor is the position of the next undelivered record. It is rewritten on
// every Ack, in place: 20 bytes [segment][offset][CRC32C] at offset 0 of the
// cursor file, a single pwrite with no rename, because a rename per event
// costs about as much as an fsync on ext4 (auto_da_alloc). A torn or lost
// cursor fails its CRC and only re-delivers from the oldest segment, which
// JetStream dedupes; it never loses an event.
type cursor struct {
	Segment uint64
	Offset  int64
}

const cursorBytes = 20

func (c cursor) encode() []byte {
	b := make([]byte, cursorBytes)
	binary.LittleEndian.PutUint64(b[0:8], c.Segment)
	binary.LittleEndian.PutUint64(b[8:16], uint64(c.Offset))
	binary.LittleEndian.PutUint32(b[16:20], crc32.Checksum(b[:16], castagnoli))
	return b
}

// readCursor reads the cursor file; a missing one is the zero cursor (start
// at the oldest segment).
func readCursor(path string) (cursor, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cursor{}, nil
	}
	if err != nil {
		return cursor{}, fmt.Errorf("outbox: %w", err)
	}
	if len(b) == 0 { // created, nothing acked yet
		return cursor{}, nil
	}
	if len(b) != cursorBytes || crc32.Checksum(b[:16], castagnoli) != binary.LittleEndian.Uint32(b[16:20]) {
		return cursor{}, fmt.Errorf("outbox: %s: %d bytes, not a valid cursor", path, len(b))
	}
	off := binary.LittleEndian.Uint64(b[8:16])
	if off > math.MaxInt64 {
		return cursor{}, fmt.Errorf("outbox: %s: offset %d out of range", path, off)
	}
	return cursor{Segment: binary.LittleEndian.Uint64(b[0:8]), Offset: int64(off)}, nil
}

// dropState is the overflow accounting; it is rewritten only when records
// are dropped or the dropped event is delivered, and always fsynced, since
// losing it would make a loss silent.
type dropState struct {
	Total uint64 `json:"total"` // ever dropped
	// Pending is dropped but not yet reported by an events.dropped event.
	Pending events.DroppedData `json:"pending"`
	// Inflight is the events.dropped event handed out by Peek but not acked;
	// kept so a re-send after a crash has the same ID (JetStream dedupes it).
	Inflight *events.Event `json:"inflight,omitempty"`
	// DroppedThrough is the newest segment already counted as dropped, so a
	// crash between counting and deleting does not count it twice.
	DroppedThrough uint64 `json:"dropped_through"`
}

// add counts n events dropped for reason, covering oldest..newest (zero
// times: unknown).
func (d *dropState) add(n int, reason string, oldest, newest time.Time) {
	d.Total += uint64(n)
	d.Pending.Count += uint64(n)
	if n > 0 && reason != "" {
		if d.Pending.Reasons == nil {
			d.Pending.Reasons = map[string]uint64{}
		}
		d.Pending.Reasons[reason] += uint64(n)
	}
	if !oldest.IsZero() && (d.Pending.OldestTime.IsZero() || oldest.Before(d.Pending.OldestTime)) {
		d.Pending.OldestTime = oldest
	}
	if newest.After(d.Pending.NewestTime) {
		d.Pending.NewestTime = newest
	}
}

// pending says an events.dropped event is due.
func (d *dropState) pending() bool {
	return d.Pending.Count > 0 || d.Pending.Uncounted || len(d.Pending.Quarantined) > 0
}

// addData folds another report's data into Pending (not into Total: the
// caller counted those events already).
func (d *dropState) addData(p events.DroppedData) {
	d.Pending.Count += p.Count
	for r, n := range p.Reasons {
		if d.Pending.Reasons == nil {
			d.Pending.Reasons = map[string]uint64{}
		}
		d.Pending.Reasons[r] += n
	}
	if !p.OldestTime.IsZero() && (d.Pending.OldestTime.IsZero() || p.OldestTime.Before(d.Pending.OldestTime)) {
		d.Pending.OldestTime = p.OldestTime
	}
	if p.NewestTime.After(d.Pending.NewestTime) {
		d.Pending.NewestTime = p.NewestTime
	}
	d.Pending.Uncounted = d.Pending.Uncounted || p.Uncounted
	d.Pending.Quarantined = append(d.Pending.Quarantined, p.Quarantined...)
}

// merge returns the accounting read from disk (d) with what was counted in
// memory while the directory could not be read (mem) added: totals add up,
// and an events.dropped handed out from memory stays the one in flight (a
// report of the disk's own that was never acknowledged is folded into the
// pending one).
func (d dropState) merge(mem dropState) dropState {
	d.Total += mem.Total
	d.addData(mem.Pending)
	if mem.Inflight != nil {
		if d.Inflight != nil {
			var old events.DroppedData
			if json.Unmarshal(d.Inflight.Data, &old) == nil {
				d.addData(old)
			}
		}
		d.Inflight = mem.Inflight
	}
	return d
}

// writeAtomic replaces path by temp file and rename, so a crash leaves the
// old or the new content, never a mix. sync also makes it survive power loss.
func writeAtomic(path string, v any, sync bool) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("outbox: %s: %w", path, err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	_, err = f.Write(b)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil && sync {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		return fmt.Errorf("outbox: write %s: %w", path, err)
	}
	return nil
}

// syncDir makes created, renamed and removed names in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
