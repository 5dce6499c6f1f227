package alerts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// cefAction sends each event as one CEF line in an RFC 5424 syslog message
// to a collector: over TCP with octet-counted framing (RFC 6587), over TLS
// the same (RFC 5425), or one UDP datagram per event (RFC 5426). The
// connection is kept and made again after an error; every failed attempt
// is retried by the retrier (a collector restarting is the usual cause).
type cefAction struct {
	name    string
	cfg     Action
	version string
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	tls     *tls.Config // transport tls only
	retrier

	mu   sync.Mutex
	conn net.Conn
}

// maxUDPMessage bounds a datagram (RFC 5426: what IPv4 can carry); a longer
// message fails rather than be cut by the kernel or the receiver.
const maxUDPMessage = 65507

func newCEFAction(name string, ac Action, version string, dial func(context.Context, string, string) (net.Conn, error), r retrier) (*cefAction, error) {
	c := &cefAction{name: name, cfg: ac, version: version, dial: dial, retrier: r}
	if ac.Transport == "tls" {
		host, _, err := net.SplitHostPort(ac.Address)
		if err != nil {
			return nil, fmt.Errorf("address %q: %w", ac.Address, err)
		}
		c.tls = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		if ac.ServerName != "" {
			c.tls.ServerName = ac.ServerName
		}
		if ac.CAFile != "" {
			pem, err := os.ReadFile(ac.CAFile)
			if err != nil {
				return nil, fmt.Errorf("ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", ac.CAFile)
			}
			c.tls.RootCAs = pool
		}
	}
	return c, nil
}

// syslogSeverities are RFC 5424 severities by event severity: crit (2),
// warning (4), informational (6).
var syslogSeverities = map[events.Severity]int{
	events.SeverityCritical: 2,
	events.SeverityWarning:  4,
	events.SeverityInfo:     6,
}

// syslogFacility is daemon (3), as the syslog action's.
const syslogFacility = 3

// syslogMessage is ev as an RFC 5424 message whose MSG is its CEF line:
// HOSTNAME the node that sent it, APP-NAME kuma-agent, MSGID the event
// type, no structured data.
func syslogMessage(ev events.Event, version string) []byte {
	sev, ok := syslogSeverities[ev.Severity]
	if !ok {
		sev = 5 // notice
	}
	ts := "-"
	if !ev.Time.IsZero() {
		ts = ev.Time.UTC().Format("2006-01-02T15:04:05.000000Z")
	}
	return fmt.Appendf(nil, "<%d>1 %s %s kuma-agent - %s - %s",
		syslogFacility*8+sev, ts, headerToken(ev.Node(), 255), headerToken(string(ev.ShortType()), 32), cefLine(ev, version))
}

// headerToken makes s an RFC 5424 header field: printable US-ASCII without
// spaces (others become '_'), at most max bytes, "-" when empty.
func headerToken(s string, max int) string {
	if s == "" {
		return "-"
	}
	b := []byte(s)
	if len(b) > max {
		b = b[:max]
	}
	for i, c := range b {
		if c < 33 || c > 126 {
			b[i] = '_'
		}
	}
	return string(b)
}

func (c *cefAction) deliver(ctx context.Context, j job, _ []byte) error {
	msg := syslogMessage(j.ev, c.version)
	if c.cfg.Transport == "udp" && len(msg) > maxUDPMessage {
		return fmt.Errorf("cef %s: event %s is %d bytes, more than a UDP datagram carries", c.name, j.ev.ID, len(msg))
	}
	frame := msg
	if c.cfg.Transport != "udp" {
		frame = append(strconv.AppendInt(nil, int64(len(msg)), 10), ' ')
		frame = append(frame, msg...)
	}
	return c.run(ctx, j, func(ctx context.Context) (bool, error) { return true, c.send(ctx, frame) })
}

// send writes frame on the kept connection, made first if there is none;
// on an error the connection is closed so that the next attempt makes a new
// one.
func (c *cefAction) send(ctx context.Context, frame []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil && c.cfg.Transport != "udp" && peerClosed(c.conn) {
		// A collector that restarted closed our connection: a write would
		// still succeed once, into nothing.
		c.conn.Close()
		c.conn = nil
	}
	if c.conn == nil {
		conn, err := c.connect(ctx)
		if err != nil {
			return err
		}
		c.conn = conn
	}
	deadline := time.Now().Add(c.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.conn.SetWriteDeadline(deadline)
	if _, err := c.conn.Write(frame); err != nil {
		c.conn.Close()
		c.conn = nil
		return err
	}
	return nil
}

func (c *cefAction) connect(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	network := "tcp"
	if c.cfg.Transport == "udp" {
		network = "udp"
	}
	conn, err := c.dial(ctx, network, c.cfg.Address)
	if err != nil {
		return nil, err
	}
	if c.tls == nil {
		return conn, nil
	}
	tc := tls.Client(conn, c.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("tls: %w", err)
	}
	return tc, nil
}

// peerClosed reports whether the collector closed conn (or reset it): a
// read that would not wait returns EOF or an error other than its timeout.
// A collector never writes to us, so a read that returns data means a
// confused peer; the connection is made again then too.
func peerClosed(conn net.Conn) bool {
	if err := conn.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
		return true
	}
	var one [1]byte
	_, err := conn.Read(one[:])
	_ = conn.SetReadDeadline(time.Time{})
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// close closes the kept connection; the action is not used afterwards.
func (c *cefAction) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}
