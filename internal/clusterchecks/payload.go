package clusterchecks

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	kflate "github.com/klauspost/compress/flate"
)

// Query payload limits. serf caps query responses at 1 KiB by default; the
// daemon raises the limit to MaxPayload, and payloads are compressed JSON.
const (
	PayloadVersion  = 1
	MaxPayload      = 16 << 10 // encoded bytes, version byte included
	MaxDecompressed = 1 << 20  // JSON bytes after decompression
)

// Errors of the payload codec, for errors.Is.
var (
	ErrPayloadTooLarge       = errors.New("query payload too large")
	ErrPayloadVersion        = errors.New("unknown query payload version")
	ErrPayloadCorrupt        = errors.New("corrupt query payload")
	ErrPayloadDecompressSize = errors.New("query payload decompresses beyond the limit")
)

// readers reuses flate decompressors (about 40 KiB each): the evaluator
// decodes every member's answers every interval, and at 50 members fresh
// ones were half of what an evaluation allocated.
var readers = sync.Pool{New: func() any { return flate.NewReader(nil) }}

// EncodePayload marshals v to JSON, compresses it with flate and prefixes
// PayloadVersion. The result is at most MaxPayload bytes or an error
// wrapping ErrPayloadTooLarge.
func EncodePayload(v any) ([]byte, error) {
	js, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode query payload: %w", err)
	}
	if len(js) > MaxDecompressed {
		return nil, fmt.Errorf("%w: %d bytes of JSON, the receiver accepts at most %d", ErrPayloadTooLarge, len(js), MaxDecompressed)
	}
	var buf bytes.Buffer
	buf.WriteByte(PayloadVersion)
	// Stateless DEFLATE (klauspost/compress, already in the build through
	// nats-server): the same format compress/flate reads, with nothing
	// kept between calls. A compress/flate writer holds 787 KiB (Go 1.26,
	// any level); pooled, every agent's four answers each interval came
	// after the pool had been emptied by the collections in between, so
	// each interval allocated up to four afresh (README, Figures: memory).
	if err := kflate.StatelessDeflate(&buf, js, true, nil); err != nil {
		return nil, fmt.Errorf("compress query payload: %w", err)
	}
	if buf.Len() > MaxPayload {
		return nil, fmt.Errorf("%w: %d bytes compressed, limit %d", ErrPayloadTooLarge, buf.Len(), MaxPayload)
	}
	return buf.Bytes(), nil
}

// DecodePayload reverses EncodePayload into v (a pointer). It rejects other
// versions, corrupt or trailing data, payloads over MaxPayload and JSON over
// MaxDecompressed (a decompression bomb stops at the cap). Unknown JSON
// fields are ignored, so a newer agent may add some; wrong types are errors.
func DecodePayload(b []byte, v any) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty", ErrPayloadCorrupt)
	}
	if len(b) > MaxPayload {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrPayloadTooLarge, len(b), MaxPayload)
	}
	if b[0] != PayloadVersion {
		return fmt.Errorf("%w %d (this agent reads version %d)", ErrPayloadVersion, b[0], PayloadVersion)
	}
	src := bytes.NewReader(b[1:])
	r := readers.Get().(io.ReadCloser)
	defer readers.Put(r)
	// A flate reader from NewReader implements Resetter, and Reset with a
	// nil dictionary cannot fail.
	if err := r.(flate.Resetter).Reset(src, nil); err != nil {
		return fmt.Errorf("%w: %w", ErrPayloadCorrupt, err)
	}
	js, err := io.ReadAll(io.LimitReader(r, MaxDecompressed+1))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPayloadCorrupt, err)
	}
	if len(js) > MaxDecompressed {
		return fmt.Errorf("%w (%d bytes)", ErrPayloadDecompressSize, MaxDecompressed)
	}
	// bytes.Reader is an io.ByteReader, so flate consumed exactly its stream.
	if src.Len() != 0 {
		return fmt.Errorf("%w: %d bytes after the compressed stream", ErrPayloadCorrupt, src.Len())
	}
	if err := json.Unmarshal(js, v); err != nil {
		return fmt.Errorf("decode query payload: %w", err)
	}
	return nil
}
