package checks

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/beevik/ntp"
)

// NTP defaults, used when the fields are zero (config.Default sets the same).
const (
	DefaultNTPWarn    = 100 * time.Millisecond
	DefaultNTPCrit    = time.Second
	DefaultNTPTimeout = 2 * time.Second
)

// NTP checks that this node's clock agrees with its time servers. KUMA's
// installer requires NTP configured on every node, and a cluster drifts
// out of that long after install: etcd (k0s), KUMA's Raft Core and TLS all
// compare timestamps across nodes. Like k0sctl, which judges skew against
// the median of hosts, the offset judged is the median over the servers
// that answered, so one bad server neither raises nor hides an alarm.
type NTP struct {
	// Servers to query, "host" or "host:port". Empty means those named in
	// ConfFiles.
	Servers []string
	// ConfFiles are chrony.conf, ntp.conf or timesyncd.conf files to take
	// the servers from when Servers is empty.
	ConfFiles []string
	// Warn and Crit are the offset thresholds; Timeout bounds one query.
	Warn, Crit, Timeout time.Duration
	// Query returns the local clock's offset from server (server time minus
	// local time). Nil means an SNTP query with github.com/beevik/ntp.
	Query func(ctx context.Context, server string) (time.Duration, error)
}

func (*NTP) Name() string { return "ntp" }
func (*NTP) Area() Area   { return AreaTime }

const ntpOffsetRemedy = "Check synchronisation with `chronyc tracking` and `chronyc sources -v`; " +
	"step the clock now with `chronyc makestep`, then make sure chrony runs at boot " +
	"(`systemctl enable --now chrony`). KUMA and k0s require NTP on every node of the cluster."

const ntpUnreachableRemedy = "Make sure the servers answer NTP (UDP port 123) from this node: " +
	"`chronyc sources -v` shows what chrony reaches; open UDP 123 towards them in the firewall, " +
	"or set checks.ntp.servers in /etc/kuma-agent/agent.yaml to servers this node can reach."

const ntpNoServersRemedy = "Configure time servers: add `server <host> iburst` lines to " +
	"/etc/chrony/chrony.conf and run `systemctl restart chrony`, or list them under " +
	"checks.ntp.servers in /etc/kuma-agent/agent.yaml. KUMA and k0s require NTP on every node of the cluster."

type ntpAnswer struct {
	server string
	offset time.Duration
	err    error
}

func (n *NTP) Run(ctx context.Context) Result {
	servers, source, confNotes := n.servers()
	if len(servers) == 0 {
		return Unknownf("no NTP servers configured: checks.ntp.servers is empty and no server, pool or NTP= line was found in "+
			ntpOrNone(strings.Join(n.ConfFiles, ", ")), ntpNoServersRemedy, confNotes...)
	}

	answers := n.queryAll(ctx, servers)
	var offsets []time.Duration
	var details []string
	for _, a := range answers {
		if a.err != nil {
			details = append(details, fmt.Sprintf("%s: unreachable: %v", a.server, a.err))
			continue
		}
		offsets = append(offsets, a.offset)
		details = append(details, fmt.Sprintf("%s: offset %s", a.server, ntpSigned(a.offset)))
	}
	details = append(details, "servers from "+ntpOrNone(source))
	details = append(details, confNotes...)

	if len(offsets) == 0 {
		return Unknownf(fmt.Sprintf("none of %d NTP servers answered (%s)", len(servers), strings.Join(servers, ", ")),
			ntpUnreachableRemedy, details...)
	}

	off := ntpMedian(offsets)
	abs := off.Abs()
	warn, crit := ntpOr(n.Warn, DefaultNTPWarn), ntpOr(n.Crit, DefaultNTPCrit)
	what := fmt.Sprintf("clock offset %s (median of %d of %d servers)", ntpSigned(off), len(offsets), len(servers))
	switch {
	case abs >= crit:
		return Critf(fmt.Sprintf("%s reaches the critical limit %s", what, crit), ntpOffsetRemedy, details...)
	case abs >= warn:
		return Warnf(fmt.Sprintf("%s reaches the warning limit %s", what, warn), ntpOffsetRemedy, details...)
	}
	return Okf(fmt.Sprintf("%s within %s", what, warn), details...)
}

// servers returns the servers to query, where they came from, and notes on
// configuration files that could not be read.
func (n *NTP) servers() (servers []string, source string, notes []string) {
	if len(n.Servers) > 0 {
		return n.Servers, "checks.ntp.servers", nil
	}
	src := ReadNTPConf(n.ConfFiles)
	for _, err := range src.Errors {
		notes = append(notes, err.Error())
	}
	if len(src.Read) == 0 {
		notes = append(notes, "none of these files exists: "+strings.Join(n.ConfFiles, ", "))
	}
	return src.Servers, strings.Join(src.Read, ", "), notes
}

// queryAll asks every server at once, so the check takes one timeout, not
// one per server. Answers keep the order of servers.
func (n *NTP) queryAll(ctx context.Context, servers []string) []ntpAnswer {
	query := n.Query
	if query == nil {
		query = n.sntpQuery
	}
	out := make([]ntpAnswer, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Go(func() {
			off, err := query(ctx, s)
			out[i] = ntpAnswer{server: s, offset: off, err: err}
		})
	}
	wg.Wait()
	return out
}

// sntpQuery is the default Query. beevik/ntp takes no context, so the
// dialer ties the socket to ctx: cancelling closes it and unblocks the read.
func (n *NTP) sntpQuery(ctx context.Context, server string) (time.Duration, error) {
	host, port, err := splitNTPServer(server)
	if err != nil {
		return 0, err
	}
	timeout := ntpOr(n.Timeout, DefaultNTPTimeout)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	var stops []func() bool
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	opts := ntp.QueryOptions{
		Timeout: timeout,
		Dialer: func(local, remote string) (net.Conn, error) {
			d := net.Dialer{}
			if local != "" {
				d.LocalAddr = &net.UDPAddr{IP: net.ParseIP(local)}
			}
			c, err := d.DialContext(ctx, "udp", remote)
			if err != nil {
				return nil, err
			}
			stops = append(stops, context.AfterFunc(ctx, func() { c.Close() }))
			return c, nil
		},
	}
	resp, err := ntp.QueryWithOptions(net.JoinHostPort(host, port), opts)
	if err != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("query %s: %w", server, ctx.Err())
		}
		return 0, fmt.Errorf("query %s: %w", server, err)
	}
	if err := resp.Validate(); err != nil {
		return 0, fmt.Errorf("%s gave an unusable answer (stratum %d): %w", server, resp.Stratum, err)
	}
	return resp.ClockOffset, nil
}

// splitNTPServer accepts "host", "host:port", "[v6]:port" and a bare IPv6
// address; the port defaults to 123.
func splitNTPServer(s string) (host, port string, err error) {
	if s == "" {
		return "", "", fmt.Errorf("empty NTP server name")
	}
	if h, p, err := net.SplitHostPort(s); err == nil {
		if h == "" || p == "" {
			return "", "", fmt.Errorf("NTP server %q: want host or host:port", s)
		}
		return h, p, nil
	}
	if strings.Count(s, ":") >= 2 || !strings.Contains(s, ":") { // bare IPv6 or bare host
		return strings.Trim(s, "[]"), "123", nil
	}
	return "", "", fmt.Errorf("NTP server %q: want host or host:port", s)
}

// ntpMedian is the median of offsets; for an even count, the mean of the middle two.
func ntpMedian(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return s[m-1] + (s[m]-s[m-1])/2
}

// ntpSigned prints an offset with its sign, to the microsecond: finer
// digits are below what SNTP over a network can measure.
func ntpSigned(d time.Duration) string {
	d = d.Round(time.Microsecond)
	if d >= 0 {
		return "+" + d.String()
	}
	return d.String()
}

func ntpOrNone(s string) string {
	if s == "" {
		return "(no files)"
	}
	return s
}

func ntpOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
