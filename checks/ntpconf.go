package checks

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// NTPConfSources is what ReadNTPConf found: the servers in file order
// (deduplicated), the files that were read, and the errors of files that
// exist but could not be read.
type NTPConfSources struct {
	Servers []string
	Read    []string
	Errors  []error
}

// ntpConfMaxDepth bounds include/confdir/sourcedir recursion, so a
// directory that includes itself cannot loop.
const ntpConfMaxDepth = 3

// ntpConfMaxLine caps one line; config lines are short.
const ntpConfMaxLine = 64 << 10

// ReadNTPConf collects the time servers named by the chrony, ntpd/ntpsec and
// systemd-timesyncd configuration files in paths. Files that do not exist
// are skipped: the default list names every daemon's file and a host has
// only one of them. chrony's sourcedir (*.sources), confdir (*.conf) and
// include directives are followed, because Debian's chrony.conf keeps its
// servers in /etc/chrony/sources.d.
func ReadNTPConf(paths []string) NTPConfSources {
	var s NTPConfSources
	seen := map[string]bool{}
	for _, p := range paths {
		s.readFile(p, 0, seen)
	}
	return s
}

func (s *NTPConfSources) readFile(path string, depth int, seen map[string]bool) {
	if seen[path] {
		return
	}
	seen[path] = true
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		s.Errors = append(s.Errors, err)
		return
	}
	defer f.Close()
	lines, err := parseNTPConf(path, f)
	if err != nil {
		s.Errors = append(s.Errors, err)
	} else {
		s.Read = append(s.Read, path)
	}
	for _, l := range lines {
		switch l.kind {
		case ntpConfServer:
			if !slices.Contains(s.Servers, l.value) {
				s.Servers = append(s.Servers, l.value)
			}
		case ntpConfInclude:
			if depth >= ntpConfMaxDepth {
				s.Errors = append(s.Errors, fmt.Errorf("%s: includes nested deeper than %d, %s not read", path, ntpConfMaxDepth, l.value))
				continue
			}
			matches, err := filepath.Glob(l.value)
			if err != nil {
				s.Errors = append(s.Errors, fmt.Errorf("%s: bad include pattern %q: %w", path, l.value, err))
				continue
			}
			for _, m := range matches { // Glob sorts, as chrony reads them
				s.readFile(m, depth+1, seen)
			}
		}
	}
}

type ntpConfKind int

const (
	ntpConfServer  ntpConfKind = iota // value is a server name or address
	ntpConfInclude                    // value is a glob of files to read
)

type ntpConfLine struct {
	kind  ntpConfKind
	value string
}

// ntpConfDirectives maps a chrony/ntpd directive to what its first argument
// is. sourcedir and confdir are chrony's: directories of *.sources and *.conf.
var ntpConfDirectives = map[string]func(arg string) ntpConfLine{
	"server":    func(a string) ntpConfLine { return ntpConfLine{ntpConfServer, a} },
	"pool":      func(a string) ntpConfLine { return ntpConfLine{ntpConfServer, a} },
	"include":   func(a string) ntpConfLine { return ntpConfLine{ntpConfInclude, a} },
	"sourcedir": func(a string) ntpConfLine { return ntpConfLine{ntpConfInclude, filepath.Join(a, "*.sources")} },
	"confdir":   func(a string) ntpConfLine { return ntpConfLine{ntpConfInclude, filepath.Join(a, "*.conf")} },
}

// timesyncdKeys are systemd-timesyncd's server lists (space-separated).
var timesyncdKeys = []string{"NTP", "FallbackNTP"}

// parseNTPConf reads one file of either syntax. Both can be handled in one
// pass because their server lines cannot be confused: chrony/ntpd use
// "server HOST [options]", timesyncd uses "NTP=HOST HOST".
func parseNTPConf(name string, r io.Reader) ([]ntpConfLine, error) {
	var out []ntpConfLine
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), ntpConfMaxLine)
	for sc.Scan() {
		line := sc.Text()
		// chrony comments start with # ; % or !, ntpd's and systemd's with # or ;.
		if i := strings.IndexAny(line, "#;%!"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if key, val, ok := strings.Cut(line, "="); ok {
			if slices.Contains(timesyncdKeys, strings.TrimSpace(key)) {
				for _, h := range strings.Fields(val) {
					out = append(out, ntpConfLine{ntpConfServer, h})
				}
			}
			continue
		}
		fields := strings.Fields(line)
		mk, ok := ntpConfDirectives[strings.ToLower(fields[0])]
		if !ok {
			continue
		}
		arg := ntpFirstNonFlag(fields[1:])
		if arg == "" || isNTPRefclock(fields[0], arg) {
			continue
		}
		l := mk(arg)
		if p := ntpChronyPort(fields[2:]); p != "" && l.kind == ntpConfServer {
			l.value = net.JoinHostPort(arg, p)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read %s: %w", name, err)
	}
	return out, nil
}

// ntpChronyPort returns the value of chrony's "port N" server option.
func ntpChronyPort(opts []string) string {
	for i := 0; i+1 < len(opts); i++ {
		if strings.EqualFold(opts[i], "port") {
			return opts[i+1]
		}
	}
	return ""
}

// ntpFirstNonFlag skips ntpd's "-4"/"-6" address-family flags.
func ntpFirstNonFlag(args []string) string {
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			return a
		}
	}
	return ""
}

// isNTPRefclock recognises ntpd's 127.127.t.u pseudo-addresses, which name
// local reference clocks (the undisciplined local clock, GPS...), not
// servers that could be queried.
func isNTPRefclock(directive, addr string) bool {
	return strings.EqualFold(directive, "server") && strings.HasPrefix(addr, "127.127.")
}
