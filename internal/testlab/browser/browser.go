// Package browser runs Debian's headless Chromium for tests: the DOM a
// page ends up with (--dump-dom) and a screenshot of the same load. Each run has its
// own profile directory, is bounded in time and its whole process group is
// killed when it ends (proc.Run); chromium is told to reach nothing but
// loopback. DOM helpers read what --dump-dom printed.
package browser

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/html"

	"github.com/kuma-agent/kuma-agent/internal/proc"
	"github.com/kuma-agent/kuma-agent/internal/testlab"
)

// Chromium is the headless browser of one test.
type Chromium struct {
	path, home string
}

// runTimeout bounds one chromium run (a cold start on a busy machine
// takes a few seconds; on a machine shared with many test runs, a minute).
const runTimeout = 3 * time.Minute

// New finds chromium (testlab.ToolPath: missing fails in CI, skips
// loudly elsewhere) and gives it a home and profile under t's temp dir.
func New(t testlab.TB) *Chromium {
	t.Helper()
	return &Chromium{path: testlab.ToolPath(t, "chromium"), home: t.TempDir()}
}

// args are the flags of every run: headless, its own profile, no GPU, and
// nothing but loopback: every other address goes to a proxy that does not
// exist (loopback bypasses proxies), and the background services that
// would phone home are off. --no-sandbox: the tests run as root, where
// Chromium's sandbox refuses to start; the page it loads is the test's own,
// with scripts forbidden by its Content-Security-Policy.
func (c *Chromium) args(extra ...string) []string {
	return append([]string{c.path, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
		"--user-data-dir=" + c.home + "/profile", "--disable-extensions", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--disable-breakpad", "--disable-domain-reliability", "--no-pings",
		"--proxy-server=http://127.0.0.1:9", "--hide-scrollbars", "--force-device-scale-factor=1"}, extra...)
}

func (c *Chromium) run(ctx context.Context, maxOut int, args ...string) (proc.Result, error) {
	res, err := proc.Run(ctx, proc.Cmd{Argv: c.args(args...), Env: []string{"HOME=" + c.home}, Dir: c.home,
		Timeout: runTimeout, MaxStdout: maxOut, KillLeftovers: true})
	if err != nil {
		return res, fmt.Errorf("chromium %s: %w: %s", strings.Join(args, " "), err, tail(res.Stderr))
	}
	return res, nil
}

// Capture loads url in a window of width x height and returns the DOM as
// serialized after loading; with shot set, it also writes a PNG of that
// same load to shot (one run: the picture is of the DOM returned).
func (c *Chromium) Capture(ctx context.Context, url, shot string, width, height int) (string, error) {
	args := []string{"--window-size=" + strconv.Itoa(width) + "," + strconv.Itoa(height), "--dump-dom"}
	if shot != "" {
		args = append(args, "--screenshot="+shot)
	}
	res, err := c.run(ctx, 8<<20, append(args, url)...)
	if err != nil {
		return "", err
	}
	if res.StdoutDropped > 0 {
		return "", fmt.Errorf("chromium --dump-dom %s: DOM larger than 8 MiB", url)
	}
	return string(res.Stdout), nil
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}

// Parse parses a document.
func Parse(doc string) (*html.Node, error) { return html.Parse(strings.NewReader(doc)) }

// Find returns the element nodes under n (n included) that match.
func Find(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	if n.Type == html.ElementNode && match(n) {
		out = append(out, n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		out = append(out, Find(c, match)...)
	}
	return out
}

// Attr is n's attribute key, and whether it has it.
func Attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// HasClass reports whether n's class list holds class.
func HasClass(n *html.Node, class string) bool {
	v, _ := Attr(n, "class")
	return strings.Contains(" "+strings.Join(strings.Fields(v), " ")+" ", " "+class+" ")
}

// Text is the text under n, concatenated.
func Text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}
