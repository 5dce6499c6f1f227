// Package hostsfile parses /etc/hosts the way the C library's "files"
// resolver reads it, keeping line numbers so that findings can name the
// exact line to fix. Malformed lines do not fail the parse: the resolver
// skips them too, so the file stays usable and the problems are reported
// beside the entries.
package hostsfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/yamlstrict"
)

// Caps keep a hostile or runaway file from costing unbounded memory. A real
// /etc/hosts is a few KiB; ad-blocking lists reach a few hundred.
const (
	MaxFileSize = 1 << 20 // whole file, bytes
	MaxLineLen  = 4096    // one line, bytes; longer lines are reported and skipped
)

// ErrTooLarge is returned (wrapped) when the file exceeds MaxFileSize.
var ErrTooLarge = errors.New("hosts file too large")

// Entry is one usable line: an address and the names mapped to it, the
// canonical name first, as written (case preserved).
type Entry struct {
	IP    netip.Addr
	Names []string
	Line  int
}

// ParseError is one malformed line the resolver would ignore.
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// File is a parsed hosts file.
type File struct {
	Name     string
	Entries  []Entry
	Problems []ParseError
}

// ReadFile opens and parses the hosts file at path, a regular file: a FIFO
// or device there is refused (yamlstrict.ErrNotRegular) instead of hanging
// the check that reads it.
func ReadFile(path string) (*File, error) {
	f, err := yamlstrict.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(path, f)
}

// Parse reads a hosts file from r; name is used in messages. It fails only
// when r cannot be read or holds more than MaxFileSize bytes.
func Parse(name string, r io.Reader) (*File, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: %w (over %d bytes)", name, ErrTooLarge, MaxFileSize)
	}
	f := &File{Name: name}
	for n := 1; len(data) > 0; n++ {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		f.parseLine(n, line)
	}
	return f, nil
}

func (f *File) parseLine(n int, line []byte) {
	if len(line) > MaxLineLen {
		f.problem(n, fmt.Sprintf("line longer than %d bytes, ignored", MaxLineLen))
		return
	}
	// '#' starts a comment anywhere on the line, as in glibc.
	if i := bytes.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	fields := strings.FieldsFunc(string(line), isSpace)
	if len(fields) == 0 {
		return
	}
	ip, err := netip.ParseAddr(fields[0])
	if err != nil {
		f.problem(n, fmt.Sprintf("%q is not an IP address, line ignored", truncate(fields[0])))
		return
	}
	if len(fields) == 1 {
		f.problem(n, fmt.Sprintf("address %s has no host name, line ignored", ip))
		return
	}
	f.Entries = append(f.Entries, Entry{IP: ip, Names: fields[1:], Line: n})
}

func (f *File) problem(n int, msg string) {
	f.Problems = append(f.Problems, ParseError{File: f.Name, Line: n, Msg: msg})
}

// isSpace is the resolver's field separator set; \r makes CRLF files work.
func isSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\r', '\v', '\f':
		return true
	}
	return false
}

func truncate(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// Lookup returns the entries that map name, in file order. Matching follows
// the resolver: case-insensitive, and a trailing dot (an absolute name) is
// ignored on either side.
func (f *File) Lookup(name string) []Entry {
	want := strings.TrimSuffix(name, ".")
	var out []Entry
	for _, e := range f.Entries {
		for _, n := range e.Names {
			if strings.EqualFold(strings.TrimSuffix(n, "."), want) {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

// Spelling returns how the entry writes name (the first name that matches it
// case-insensitively), or "" when the entry does not map name.
func (e Entry) Spelling(name string) string {
	want := strings.TrimSuffix(name, ".")
	for _, n := range e.Names {
		if strings.EqualFold(strings.TrimSuffix(n, "."), want) {
			return n
		}
	}
	return ""
}
