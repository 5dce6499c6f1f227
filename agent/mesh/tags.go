package mesh

import "github.com/kuma-agent/kuma-agent/internal/serftags"

// MaxTagsSize is the largest encoded tag set serf accepts.
const MaxTagsSize = serftags.MaxSize

// ErrTagsTooLarge is returned when a tag set encodes to more than
// MaxTagsSize bytes.
var ErrTagsTooLarge = serftags.ErrTooLarge

// checkTags rejects tag sets serf would refuse, with a clear error.
func checkTags(tags map[string]string) error { return serftags.Check(tags) }
