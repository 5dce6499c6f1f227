package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"
)

// Reading is one look at whether the local Core is in its Raft cluster.
type Reading struct {
	Out    bool
	Leader bool   // the Core says it leads (only the health signal knows)
	Detail string // what was seen, for events
}

// Signal tells whether the Core fell out of its cluster. An error means
// "cannot tell": never a reason to act.
type Signal interface {
	Read(ctx context.Context) (Reading, error)
}

// HealthSignal reads the Core's health endpoint: a non-2xx status or a body
// matching Out is out; a body matching Leader says it leads.
type HealthSignal struct {
	URL    string
	Out    *regexp.Regexp // may be nil
	Leader *regexp.Regexp // may be nil
	Client *http.Client   // default: 2 s timeout
}

// Read implements Signal.
func (h HealthSignal) Read(ctx context.Context) (Reading, error) {
	c := h.Client
	if c == nil {
		c = &http.Client{Timeout: 2 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return Reading{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return Reading{}, fmt.Errorf("health %s: %w", h.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Reading{}, fmt.Errorf("health %s: %w", h.URL, err)
	}
	r := Reading{Detail: fmt.Sprintf("health %s: %s", h.URL, resp.Status)}
	if resp.StatusCode < 200 || resp.StatusCode > 299 || (h.Out != nil && h.Out.Match(body)) {
		r.Out = true
		return r, nil
	}
	r.Leader = h.Leader != nil && h.Leader.Match(body)
	return r, nil
}

// LogSignal watches a log file for a line saying the Core left the
// cluster. The line is an event, so the reading stays "out" until Reset
// (called after a rejoin).
type LogSignal struct {
	File    string
	Pattern *regexp.Regexp
	offset  int64
	started bool
	out     string
}

// Read implements Signal. The file is read from where the last read ended;
// the first read starts at its end (old lines are history).
func (l *LogSignal) Read(ctx context.Context) (Reading, error) {
	f, err := os.Open(l.File)
	if errors.Is(err, os.ErrNotExist) {
		return Reading{Out: l.out != "", Detail: l.out}, nil
	}
	if err != nil {
		return Reading{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Reading{}, err
	}
	if !l.started || fi.Size() < l.offset { // first read, or rotated
		l.started, l.offset = true, fi.Size()
		if fi.Size() < l.offset {
			l.offset = 0
		}
		return Reading{Out: l.out != "", Detail: l.out}, nil
	}
	if _, err := f.Seek(l.offset, io.SeekStart); err != nil {
		return Reading{}, err
	}
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return Reading{}, err
	}
	l.offset += int64(len(b))
	if m := l.Pattern.Find(b); m != nil {
		l.out = fmt.Sprintf("log %s: %q", l.File, m)
	}
	return Reading{Out: l.out != "", Detail: l.out}, nil
}

// Reset forgets the matched line.
func (l *LogSignal) Reset() { l.out = "" }

// CommandSignal runs a command: a non-zero exit is out.
type CommandSignal struct {
	Argv   []string
	Runner Runner
}

// Read implements Signal.
func (c CommandSignal) Read(ctx context.Context) (Reading, error) {
	r := c.Runner
	if r == nil {
		r = defaultRunner()
	}
	out, err := r.Run(ctx, c.Argv)
	if err == nil {
		return Reading{}, nil
	}
	if code, ok := exitCode(err); ok && code > 0 {
		said := strings.TrimSpace(string(out))
		if said == "" {
			said = err.Error()
		}
		return Reading{Out: true, Detail: fmt.Sprintf("command exit %d: %.200s", code, said)}, nil
	}
	return Reading{}, err
}
