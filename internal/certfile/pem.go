package certfile

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strconv"
)

// MaxBlocks bounds the certificates read from one PEM text (a CA bundle
// has a few hundred at most).
const MaxBlocks = 512

// ParsePEM returns the certificates of every CERTIFICATE block in data (file
// names it in errors and in each Cert). Other blocks (keys, CSRs) are
// skipped; text around blocks is ignored as openssl does. No certificate
// block at all, a block that does not parse or more than MaxBlocks is an
// error naming the file and the block.
func ParsePEM(file string, data []byte) ([]Cert, error) {
	var out []Cert
	rest := data
	n := 0
	for len(rest) > 0 {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		n++
		if n > MaxBlocks {
			return nil, fmt.Errorf("%s: more than %d PEM blocks", file, MaxBlocks)
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: PEM block %d: %w", file, n, err)
		}
		out = append(out, certOf(file, "block "+strconv.Itoa(n), c))
	}
	if len(out) == 0 {
		if bytes.Contains(data, []byte("-----BEGIN")) && n == 0 {
			return nil, fmt.Errorf("%s: a PEM header without a well-formed block (truncated or damaged file?)", file)
		}
		return nil, fmt.Errorf("%s: no PEM CERTIFICATE block", file)
	}
	if len(out) == 1 {
		out[0].Where = ""
	}
	return out, nil
}
