package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ByteSize is a size in bytes written as "32GiB", "32GB", "500M" or a plain
// number. Decimal (kB, MB, GB, TB) and binary (KiB, MiB, GiB, TiB) units are
// honoured as written; a bare K, M, G, T is binary, as df prints it.
type ByteSize uint64

const (
	KiB ByteSize = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
)

var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
}

// ParseByteSize parses a size such as "32GiB".
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.') })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	}
	mult, ok := sizeUnits[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("invalid size %q (want e.g. 32GiB, 500MB or a number of bytes)", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || math.IsInf(f*mult, 0) || f*mult >= math.MaxUint64 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return ByteSize(f * mult), nil
}

func (b ByteSize) String() string {
	for _, u := range []struct {
		n string
		v ByteSize
	}{{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}} {
		if b >= u.v && b%u.v == 0 {
			return strconv.FormatUint(uint64(b/u.v), 10) + u.n
		}
	}
	if b >= GiB {
		return strconv.FormatFloat(float64(b)/float64(GiB), 'f', 1, 64) + "GiB"
	}
	return strconv.FormatUint(uint64(b), 10) + "B"
}

func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		// A TypeError keeps the decoder going and carries the line.
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*b = v
	return nil
}

func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }
