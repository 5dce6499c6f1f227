package lease

import (
	"errors"
	"fmt"
	"strings"
)

// maxPurposeLen bounds a purpose; keys end up in NATS subjects.
const maxPurposeLen = 200

// Key maps a purpose to a KV key. Bytes outside [-_A-Za-z0-9] (including
// '.', which KV keys restrict, and '=', the escape itself) become "=XX"
// hex, so the mapping is injective: two purposes never share a lease.
func Key(purpose string) (string, error) {
	if purpose == "" {
		return "", errors.New("lease purpose is empty")
	}
	if len(purpose) > maxPurposeLen {
		return "", fmt.Errorf("lease purpose is %d bytes, limit %d", len(purpose), maxPurposeLen)
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(purpose); i++ {
		c := purpose[i]
		if keyByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('=')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String(), nil
}

func keyByte(c byte) bool {
	return c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
