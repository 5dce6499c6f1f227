package mesh

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/memberlist"
)

// MaxTagsSize is the largest encoded tag set serf accepts (memberlist's node
// metadata limit).
const MaxTagsSize = memberlist.MetaMaxSize

// ErrTagsTooLarge is returned when a tag set encodes to more than
// MaxTagsSize bytes.
var ErrTagsTooLarge = errors.New("gossip tags too large")

// tagMagicByte is the prefix serf puts before its msgpack-encoded tags.
const tagMagicByte = 255

// EncodedTagsSize returns the size serf's encodeTags produces for tags: a
// magic byte followed by the msgpack map, with the same codec settings.
// Callers that pack tags to fit MaxTagsSize measure with it.
func EncodedTagsSize(tags map[string]string) (int, error) {
	var buf bytes.Buffer
	buf.WriteByte(tagMagicByte)
	if err := codec.NewEncoder(&buf, &codec.MsgpackHandle{}).Encode(tags); err != nil {
		return 0, fmt.Errorf("encode tags: %w", err)
	}
	return buf.Len(), nil
}

// checkTags rejects tag sets serf would refuse, with a clear error.
func checkTags(tags map[string]string) error {
	n, err := EncodedTagsSize(tags)
	if err != nil {
		return err
	}
	if n > MaxTagsSize {
		return fmt.Errorf("%w: %d tags encode to %d bytes, limit is %d", ErrTagsTooLarge, len(tags), n, MaxTagsSize)
	}
	return nil
}
