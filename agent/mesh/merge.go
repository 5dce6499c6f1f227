package mesh

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/safetext"
)

// memberGate is serf's merge delegate (serf.Config.Merge). serf asks it
// before a join merges another agent's member list (NotifyMerge with the
// whole list: one refused member refuses the join, as Consul does) and,
// because serf installs the same delegate as memberlist's AliveDelegate,
// before an alive message about a member is believed (NotifyMerge with that
// one member), whether it came by gossip or in a periodic push/pull. It
// refuses:
//
//   - a name that is not a host name (cluster.CheckHostName: RFC 1123
//     labels, at most 128 bytes; no control character, space, quote or
//     shell syntax), so that no name from the network can carry a command
//     substitution into a log or forge a row of `kuma-agent members`;
//   - a name that is alive here at another address: the name is taken.
//
// serf's own name check (ValidateNodeNames) is left off: it runs before
// the delegate and would refuse the worst names uncounted and unlogged; the
// gate's rule is stricter. Refusals are counted (Stats.MembersRefused) and
// logged at most once a minute, with the count of the rest.
//
// The gate never calls into serf or memberlist: memberlist calls it with
// its node lock held. The names alive here come from the event reader
// (track).
type memberGate struct {
	log     *refusalLog
	refused atomic.Uint64

	mu    sync.Mutex
	alive map[string]string // member name -> ip:port, while alive
}

func newMemberGate(log *slog.Logger) *memberGate {
	return &memberGate{log: &refusalLog{log: log, now: time.Now}, alive: map[string]string{}}
}

// NotifyMerge implements serf.MergeDelegate.
func (g *memberGate) NotifyMerge(members []*serf.Member) error {
	var errs []error
	for _, m := range members {
		if err := g.admit(m); err != nil {
			g.refused.Add(1)
			g.log.refused(err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (g *memberGate) admit(m *serf.Member) error {
	addr := net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port)))
	if err := cluster.CheckHostName(m.Name); err != nil {
		return fmt.Errorf("gossip member at %s refused: %w", addr, err)
	}
	if m.Status == serf.StatusLeft {
		return nil // news of a leave claims no address
	}
	g.mu.Lock()
	at, ok := g.alive[m.Name]
	g.mu.Unlock()
	if ok && at != addr {
		return fmt.Errorf("gossip member %s at %s refused: that name is alive at %s", m.Name, addr, at)
	}
	return nil
}

// track records who is alive where, from the member events.
func (g *memberGate) track(ev MemberEvent) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range ev.Members {
		if m.Status == "alive" && ev.Type != "reap" {
			g.alive[m.Name] = net.JoinHostPort(m.Addr, strconv.Itoa(int(m.Port)))
		} else {
			delete(g.alive, m.Name)
		}
	}
}

// refusalLogEvery is how often refused members are logged at most.
const refusalLogEvery = time.Minute

// refusalLog logs the first refusal of each minute with its reason, counts
// the others and logs their count when the minute is over: a rogue agent
// repeating itself every gossip round costs a line a minute.
type refusalLog struct {
	log *slog.Logger
	now func() time.Time

	mu         sync.Mutex
	quietUntil time.Time
	suppressed int
	timer      *time.Timer
	stopped    bool
}

func (l *refusalLog) refused(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Before(l.quietUntil) {
		l.suppressed++
		if l.timer == nil && !l.stopped {
			l.timer = time.AfterFunc(l.quietUntil.Sub(now), l.flush)
		}
		return
	}
	l.flushLocked()
	l.quietUntil = now.Add(refusalLogEvery)
	l.log.Warn("gossip member refused", "reason", safetext.Escape(err.Error()), "next_log_in", refusalLogEvery)
}

func (l *refusalLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.timer = nil
	l.flushLocked()
}

func (l *refusalLog) flushLocked() {
	if l.suppressed == 0 {
		return
	}
	l.log.Warn("gossip members refused since the last log", "count", l.suppressed, "within", refusalLogEvery)
	l.suppressed = 0
}

// stop logs the count still pending and ends the timer.
func (l *refusalLog) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	l.flushLocked()
}
