package exepages

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Mapping is one region of /proc/PID/smaps: its header line and the
// sizes and flags the release decides on.
type Mapping struct {
	Start, End uint64 // [Start, End) in the process's address space
	Perms      string // "r-xp": read, no write, execute, private
	Dev        string // "fe:00", major:minor in hex, as the kernel prints it
	Inode      uint64
	Path       string // may end in " (deleted)" after a package upgrade
	// RSSKiB is the region's Rss line. AnonymousKiB and SwapKiB count the
	// pages the process wrote (copied on write), in memory and swapped
	// out: only the file's contents could replace them. HasAnonymous and
	// HasSwap say the lines were there: a region without them is not
	// known to be clean.
	RSSKiB, AnonymousKiB, SwapKiB uint64
	HasAnonymous, HasSwap         bool
	// Locked: VmFlags has "lo" (mlock), which MADV_DONTNEED refuses.
	Locked bool
}

// smapsLimit bounds what ParseSmaps reads: a process's smaps is a few
// hundred KB; more means the input is not what it claims to be.
const smapsLimit = 16 << 20

// ParseSmaps reads the regions of an smaps file (proc(5)). A header line
// that does not parse, a size line with no region before it, a line over
// 64 KiB or an input over smapsLimit is an error naming its line; lines
// it does not use are skipped.
func ParseSmaps(r io.Reader) ([]Mapping, error) {
	lr := &io.LimitedReader{R: r, N: smapsLimit + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	var out []Mapping
	line := 1
	for ; sc.Scan(); line++ {
		if lr.N == 0 {
			return nil, fmt.Errorf("smaps line %d: more than %d bytes", line, smapsLimit)
		}
		text := sc.Text()
		key, rest, isField := fieldLine(text)
		if !isField {
			m, err := parseHeader(text)
			if err != nil {
				return nil, fmt.Errorf("smaps line %d: %w", line, err)
			}
			out = append(out, m)
			continue
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("smaps line %d: %q before any region", line, clip(key))
		}
		m := &out[len(out)-1]
		var dst *uint64
		switch key {
		case "Rss":
			dst = &m.RSSKiB
		case "Anonymous":
			dst, m.HasAnonymous = &m.AnonymousKiB, true
		case "Swap":
			dst, m.HasSwap = &m.SwapKiB, true
		case "VmFlags":
			m.Locked = slices.Contains(strings.Fields(rest), "lo")
			continue
		default:
			continue
		}
		n, err := kib(rest)
		if err != nil {
			return nil, fmt.Errorf("smaps line %d: %s: %w", line, key, err)
		}
		*dst = n
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("smaps line %d: %w", line, err)
	}
	if lr.N == 0 {
		return nil, fmt.Errorf("smaps line %d: more than %d bytes", line, smapsLimit)
	}
	return out, nil
}

// fieldLine tells a size line ("Rss:   20 kB", "VmFlags: rd ex") from a
// region's header: a field's first word ends in a colon, a header's is an
// address range.
func fieldLine(text string) (key, rest string, ok bool) {
	first, rest, _ := strings.Cut(text, " ")
	if !strings.HasSuffix(first, ":") {
		return "", "", false
	}
	return strings.TrimSuffix(first, ":"), strings.TrimSpace(rest), true
}

// parseHeader reads "start-end perms offset dev inode [path]". The path
// is the rest of the line after the inode, its spaces kept.
func parseHeader(text string) (Mapping, error) {
	var fs [5]string
	rest := text
	for i := range fs {
		rest = strings.TrimLeft(rest, " \t")
		end := strings.IndexAny(rest, " \t")
		if end < 0 {
			end = len(rest)
		}
		fs[i], rest = rest[:end], rest[end:]
		if fs[i] == "" {
			return Mapping{}, fmt.Errorf("region header %q: want start-end perms offset dev inode [path]", clip(text))
		}
	}
	lo, hi, ok := strings.Cut(fs[0], "-")
	if !ok {
		return Mapping{}, fmt.Errorf("region %q: no start-end range", clip(fs[0]))
	}
	var m Mapping
	var err error
	if m.Start, err = strconv.ParseUint(lo, 16, 64); err != nil {
		return Mapping{}, fmt.Errorf("region start %q: %w", clip(lo), err)
	}
	if m.End, err = strconv.ParseUint(hi, 16, 64); err != nil {
		return Mapping{}, fmt.Errorf("region end %q: %w", clip(hi), err)
	}
	if m.End < m.Start {
		return Mapping{}, fmt.Errorf("region %s ends before it starts", clip(fs[0]))
	}
	if len(fs[1]) != 4 {
		return Mapping{}, fmt.Errorf("region permissions %q: want four letters like r-xp", clip(fs[1]))
	}
	m.Perms = fs[1]
	m.Dev = fs[3]
	if m.Inode, err = strconv.ParseUint(fs[4], 10, 64); err != nil {
		return Mapping{}, fmt.Errorf("region inode %q: %w", clip(fs[4]), err)
	}
	// The kernel pads the inode to a column before the path.
	m.Path = strings.TrimLeft(rest, " \t")
	return m, nil
}

// kib reads "1234 kB".
func kib(s string) (uint64, error) {
	num, unit, _ := strings.Cut(s, " ")
	if strings.TrimSpace(unit) != "kB" {
		return 0, fmt.Errorf("size %q: want a number of kB", clip(s))
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", clip(s), err)
	}
	return n, nil
}

// clip keeps a hostile line out of an error message's length.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
