// Package serftags measures gossip tags the way serf encodes them. The mesh
// refuses tag sets over the limit and the tag codec packs its fields to fit;
// both measure here, so neither depends on the other.
package serftags

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/memberlist"
)

// MaxSize is the largest encoded tag set serf accepts (memberlist's node
// metadata limit).
const MaxSize = memberlist.MetaMaxSize

// ErrTooLarge is returned when a tag set encodes to more than MaxSize bytes.
var ErrTooLarge = errors.New("gossip tags too large")

// magicByte is the prefix serf puts before its msgpack-encoded tags.
const magicByte = 255

// EncodedSize returns the size serf's encodeTags produces for tags: a magic
// byte followed by the msgpack map, with the same codec settings.
func EncodedSize(tags map[string]string) (int, error) {
	var buf bytes.Buffer
	buf.WriteByte(magicByte)
	if err := codec.NewEncoder(&buf, &codec.MsgpackHandle{}).Encode(tags); err != nil {
		return 0, fmt.Errorf("encode tags: %w", err)
	}
	return buf.Len(), nil
}

// Check rejects tag sets serf would refuse, with a clear error.
func Check(tags map[string]string) error {
	n, err := EncodedSize(tags)
	if err != nil {
		return err
	}
	if n > MaxSize {
		return fmt.Errorf("%w: %d tags encode to %d bytes, limit is %d", ErrTooLarge, len(tags), n, MaxSize)
	}
	return nil
}
