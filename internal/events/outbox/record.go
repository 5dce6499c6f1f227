package outbox

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// A record on disk is [4-byte length LE][4-byte CRC32C LE of payload][payload],
// the payload being the JSON of one events.Event. The CRC lets a scan tell a
// torn or rotten record from a good one; the length lets it skip a rotten one.
const (
	headerBytes = 8
	// maxPayload bounds what a length field may plausibly say: a larger one is
	// corruption, not an event (events are a few hundred bytes).
	maxPayload = 4 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func encodeRecord(payload []byte) []byte {
	rec := make([]byte, headerBytes+len(payload))
	binary.LittleEndian.PutUint32(rec[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(rec[4:8], crc32.Checksum(payload, castagnoli))
	copy(rec[headerBytes:], payload)
	return rec
}

// CorruptError says where a segment is unreadable beyond repair: a record
// whose length cannot be trusted, so nothing after it can be located.
type CorruptError struct {
	File   string
	Offset int64
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("outbox: %s: offset %d: %s", e.File, e.Offset, e.Reason)
}

// scanResult is what a scan of one segment found from a start offset.
type scanResult struct {
	recs    []span // the good records, in order
	skipped int    // records with a plausible length but a bad CRC
	// end is where good data ends; below len(data) only for a torn tail.
	end  int64
	torn bool
}

// span locates one good record's payload in its segment.
type span struct {
	off int64 // of the header
	n   uint32
}

// scanSegment walks the records of data from start. last says data is the
// newest segment, the only one a crash can leave with a torn tail: there a
// record running past the end, or a zero tail (a file extended but not
// written before power loss), or a bad CRC on the very last record, is torn
// and cut off. Anywhere else a bad CRC with a plausible length is skipped and
// counted; an implausible length is a CorruptError, as nothing after it can be
// found.
func scanSegment(name string, data []byte, start int64, last bool) (scanResult, error) {
	res := scanResult{end: int64(len(data))}
	size := int64(len(data))
	pos := start
	for pos < size {
		tornAt := func() (scanResult, error) {
			res.end, res.torn = pos, true
			return res, nil
		}
		if size-pos < headerBytes {
			if last {
				return tornAt()
			}
			return res, &CorruptError{File: name, Offset: pos, Reason: fmt.Sprintf("%d stray bytes at the end", size-pos)}
		}
		n := int64(binary.LittleEndian.Uint32(data[pos : pos+4]))
		sum := binary.LittleEndian.Uint32(data[pos+4 : pos+8])
		switch {
		case n == 0 || n > maxPayload:
			if last && allZero(data[pos:]) {
				return tornAt()
			}
			return res, &CorruptError{File: name, Offset: pos, Reason: fmt.Sprintf("implausible record length %d", n)}
		case pos+headerBytes+n > size:
			if last {
				return tornAt()
			}
			return res, &CorruptError{File: name, Offset: pos, Reason: fmt.Sprintf("record length %d runs past the end (%d bytes)", n, size)}
		}
		payload := data[pos+headerBytes : pos+headerBytes+n]
		if crc32.Checksum(payload, castagnoli) != sum {
			if last && pos+headerBytes+n == size {
				return tornAt()
			}
			res.skipped++
		} else {
			res.recs = append(res.recs, span{off: pos, n: uint32(n)})
		}
		pos += headerBytes + n
	}
	return res, nil
}

func allZero(b []byte) bool { return len(bytes.Trim(b, "\x00")) == 0 }

// checkRecord verifies one record read back from disk.
func checkRecord(name string, off int64, rec []byte) ([]byte, error) {
	if len(rec) < headerBytes {
		return nil, &CorruptError{File: name, Offset: off, Reason: "short record"}
	}
	n := binary.LittleEndian.Uint32(rec[0:4])
	payload := rec[headerBytes:]
	if int(n) != len(payload) || crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(rec[4:8]) {
		return nil, &CorruptError{File: name, Offset: off, Reason: "record changed on disk since it was scanned"}
	}
	return payload, nil
}

func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

func crcOK(payload []byte, sum uint32) bool { return crc32.Checksum(payload, castagnoli) == sum }
