package outbox

import (
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// validPayloads finds, by brute force at every offset and independently of
// scanSegment, each byte range that is framed as a record with a correct
// CRC: the only payloads Open may ever hand out.
func validPayloads(data []byte) map[string]bool {
	ok := map[string]bool{}
	for i := 0; i+headerBytes <= len(data); i++ {
		n := int(binary.LittleEndian.Uint32(data[i:]))
		if n == 0 || n > len(data)-i-headerBytes {
			continue
		}
		p := data[i+headerBytes : i+headerBytes+n]
		if crc32.Checksum(p, crc32.MakeTable(crc32.Castagnoli)) == binary.LittleEndian.Uint32(data[i+4:]) {
			var e events.Event
			if json.Unmarshal(p, &e) == nil {
				ok[string(mustJSON(nil, e))] = true
			}
		}
	}
	return ok
}

func FuzzOpen(f *testing.F) {
	var seg []byte
	for i := range 4 {
		seg = append(seg, encodeRecord(mustJSON(f, seqEvent(f, i)))...)
	}
	f.Add(seg)
	f.Add(seg[:len(seg)-7])
	f.Add(append(append([]byte{}, seg...), 0, 0, 0, 0, 0, 0, 0, 0, 0))
	bad := append([]byte{}, seg...)
	bad[20] ^= 1
	f.Add(bad)
	f.Add([]byte{})
	f.Add(encodeRecord([]byte(`not json`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segName(1)), data, 0o600); err != nil {
			t.Fatal(err)
		}
		ob, err := Open(Options{Dir: dir})
		if err != nil {
			return // reported, not panicked
		}
		defer ob.Close()
		valid := validPayloads(data)
		for {
			evs, err := ob.Peek(16)
			if err != nil {
				t.Fatalf("Peek after a successful Open: %v", err)
			}
			if len(evs) == 0 {
				break
			}
			for _, e := range evs {
				if e.ShortType() == events.EventsDropped && e.Subject == "outbox" {
					continue
				}
				if !valid[string(mustJSON(t, e))] {
					t.Fatalf("Open handed out an event with no valid CRC record: %+v", e)
				}
			}
			if err := ob.Ack(len(evs)); err != nil {
				t.Fatal(err)
			}
		}
		// Recovery left a segment a second Open accepts as is.
		ob.Close()
		ob2, err := Open(Options{Dir: dir})
		if err != nil {
			t.Fatalf("reopen after recovery: %v", err)
		}
		ob2.Close()
	})
}
