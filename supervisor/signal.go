package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/kumaunit"
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

// ErrNoAnswer marks a health listener that did not answer within its
// timeout: "unknown" for the Raft state, evidence for a hung Core.
var ErrNoAnswer = errors.New("no answer within the timeout")

// HealthSignal reads the Core's health listener. KUMA documents neither
// its path nor its body, so it judges only what a site configured: a 2xx
// body matching Out is out, one matching Leader leads, one matching In is
// in the cluster. Anything else (a transport error, a timeout, a non-2xx
// status such as 404, a body matching no pattern) is an error: unknown.
type HealthSignal struct {
	// URL as configured; empty: Path on the listener of the Core unit's
	// own --health flag (Exec), 127.0.0.1 for a wildcard address.
	URL  string
	Path string
	Exec func() *kumaunit.Exec // the running Core unit's command line
	// Out and In are required (the config refuses a health signal
	// without them); Leader may be nil.
	Out, In, Leader *regexp.Regexp
	Timeout         time.Duration // default 2 s
	Client          *http.Client  // default: a plain client
}

// HealthURL is the URL a HealthSignal reads: the configured one, or path on
// the unit's own --health listener.
func HealthURL(configured, path string, e *kumaunit.Exec) (string, error) {
	if configured != "" {
		return configured, nil
	}
	if e == nil {
		return "", errors.New("the Core unit's command line is not known (ExecStart not read): no health listener to read")
	}
	l, ok := e.Listener("health")
	if !ok {
		return "", errors.New("the Core unit has no --health listener: nothing to read")
	}
	host := l.Host
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(l.Port)) + path, nil
}

// Read implements Signal.
func (h HealthSignal) Read(ctx context.Context) (Reading, error) {
	var e *kumaunit.Exec
	if h.Exec != nil {
		e = h.Exec()
	}
	u, err := HealthURL(h.URL, h.Path, e)
	if err != nil {
		return Reading{}, err
	}
	c := h.Client
	if c == nil {
		c = http.DefaultClient
	}
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Reading{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return Reading{}, fmt.Errorf("health %s: %w (%s)", u, ErrNoAnswer, timeout)
		}
		return Reading{}, fmt.Errorf("health %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		if ctx.Err() != nil {
			return Reading{}, fmt.Errorf("health %s: body: %w (%s)", u, ErrNoAnswer, timeout)
		}
		return Reading{}, fmt.Errorf("health %s: %w", u, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Reading{}, fmt.Errorf("health %s answered %s: unknown (only a 2xx body is judged)", u, resp.Status)
	}
	r := Reading{Detail: fmt.Sprintf("health %s: %s", u, resp.Status)}
	switch {
	case h.Out != nil && h.Out.Match(body):
		r.Out = true
	case h.Leader != nil && h.Leader.Match(body):
		r.Leader = true
	case h.In != nil && h.In.Match(body):
	default:
		return Reading{}, fmt.Errorf("health %s: the body matches none of the configured patterns: unknown (%.80q)", u, body)
	}
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
