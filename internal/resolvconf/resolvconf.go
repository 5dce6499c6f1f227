// Package resolvconf reads the resolver configuration (/etc/resolv.conf)
// far enough to name the resolver a lookup went to: its nameservers and
// search domains. The lookups themselves go through Go's resolver, which
// reads the same file; this package only explains a failure.
package resolvconf

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/yamlstrict"
)

// MaxFileSize caps what is read: a real resolv.conf is a few hundred
// bytes, and glibc uses at most 3 nameservers and 6 search domains.
const MaxFileSize = 64 << 10

// maxKept bounds the lists kept from a hostile file.
const maxKept = 16

// Conf is what a failure message names.
type Conf struct {
	File        string
	Nameservers []netip.Addr
	Search      []string
	// Problems are lines the C library would skip (a bad nameserver
	// address), with their line numbers.
	Problems []string
}

// ReadFile reads path, a regular file (a FIFO is refused, never waited on).
func ReadFile(path string) (Conf, error) {
	f, err := yamlstrict.OpenRegular(path)
	if err != nil {
		return Conf{File: path}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return Conf{File: path}, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return Conf{File: path}, fmt.Errorf("%s: larger than %d bytes: not a resolver configuration", path, MaxFileSize)
	}
	return Parse(path, data), nil
}

// Parse reads resolv.conf text: `nameserver ADDR`, `search a b` and
// `domain a` (the last of search/domain wins, as in glibc); comments start
// with # or ;. It never fails: what it cannot read is in Problems.
func Parse(name string, data []byte) Conf {
	c := Conf{File: name}
	for n := 1; len(data) > 0; n++ {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		if i := bytes.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(string(line))
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) < 2 {
				c.problem(n, "nameserver without an address")
				continue
			}
			a, err := netip.ParseAddr(f[1])
			if err != nil {
				c.problem(n, fmt.Sprintf("nameserver %q is not an IP address", clip(f[1])))
				continue
			}
			if len(c.Nameservers) < maxKept {
				c.Nameservers = append(c.Nameservers, a)
			}
		case "search", "domain":
			c.Search = nil
			for _, d := range f[1:] {
				if len(c.Search) < maxKept {
					c.Search = append(c.Search, clip(d))
				}
			}
		}
	}
	return c
}

func (c *Conf) problem(line int, msg string) {
	if len(c.Problems) < maxKept {
		c.Problems = append(c.Problems, fmt.Sprintf("%s:%d: %s", c.File, line, msg))
	}
}

// clip keeps a value from a hostile file short in messages.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// String names the resolver: "nameservers 10.0.0.2, 10.0.0.3 (search lan)
// from /etc/resolv.conf", or that it lists none (glibc then asks
// 127.0.0.1).
func (c Conf) String() string {
	if len(c.Nameservers) == 0 {
		return "no nameserver in " + c.File + " (the resolver asks 127.0.0.1:53)"
	}
	ns := make([]string, len(c.Nameservers))
	for i, a := range c.Nameservers {
		ns[i] = a.String()
	}
	s := "nameserver " + strings.Join(ns, ", ")
	if len(c.Search) > 0 {
		s += " (search " + strings.Join(c.Search, " ") + ")"
	}
	return s + " from " + c.File
}
