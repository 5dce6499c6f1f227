package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/retry"
)

// Source delivers events to fn until ctx ends or the source is exhausted;
// the NATS subscription is one, a slice is another (tests).
type Source interface {
	Events(ctx context.Context, fn func(events.Event) error) error
}

// AckSource is a Source whose events are settled once handled. Each comes
// with a settle func that Run calls exactly once: with true when every
// action the event was routed to is done with it (delivered, failed after
// its retries, or dropped from a full queue: all counted in Stats) or it
// matched no rule; with false when Run stopped first (cancelled), so the
// source delivers it again. Run prefers EventsAck to Events. The durable
// NATS consumer of `kuma-agent alerts` is one.
type AckSource interface {
	Source
	EventsAck(ctx context.Context, fn func(ev events.Event, settle func(handled bool)) error) error
}

// tracker settles one event once every action it was routed to is done
// with it. A nil tracker does nothing.
type tracker struct {
	left      atomic.Int32
	abandoned atomic.Bool
	settle    func(handled bool)
}

// done is one action finished with the event; abandoned: cut short by Run
// stopping, so the event must come again.
func (t *tracker) done(abandoned bool) {
	if t == nil {
		return
	}
	if abandoned {
		t.abandoned.Store(true)
	}
	if t.left.Add(-1) == 0 {
		t.settle(!t.abandoned.Load())
	}
}

// Stats are one action's counters since Run started.
type Stats struct {
	Matched   uint64 // events routed to the action by at least one rule
	Delivered uint64
	Failed    uint64 // delivery gave up (after retries, timeout, non-zero exit)
	Dropped   uint64 // discarded unsent because the action's queue was full
}

type counters struct{ matched, delivered, failed, dropped atomic.Uint64 }

// deliverer is what an action does with one event; body is its JSON.
type deliverer interface {
	deliver(ctx context.Context, j job, body []byte) error
}

// Alerter routes events to actions. Its fields are the injectable inputs;
// zero values get real defaults.
type Alerter struct {
	Config *Config
	Log    *slog.Logger
	// HTTPClient posts webhooks; timeouts come from the action, not the client.
	HTTPClient *http.Client
	// Sleep waits between webhook retries; returns ctx.Err() if ctx ends.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand places each retry wait in [d/2, d) of its nominal backoff d
	// (retry.Backoff.Rand); nil means math/rand.
	Rand func() float64
	// SyslogDial opens the syslog writer for a syslog action.
	SyslogDial func(tag string) (SyslogWriter, error)
	// Dial connects a cef action to its collector (TLS is layered on top);
	// nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Version is the agent's version, the CEF header's device version.
	Version string

	once    sync.Once
	stats   map[string]*counters
	actions map[string]deliverer
	queues  map[string]*queue
}

// New returns an Alerter for cfg logging to log (slog.Default if nil).
func New(cfg *Config, log *slog.Logger) *Alerter {
	return &Alerter{Config: cfg, Log: log}
}

// Run is New(cfg, log).Run(ctx, src): what `kuma-agent alerts` calls.
func Run(ctx context.Context, cfg *Config, src Source, log *slog.Logger) error {
	return New(cfg, log).Run(ctx, src)
}

func (a *Alerter) init() {
	a.once.Do(func() {
		if a.Log == nil {
			a.Log = slog.Default()
		}
		if a.HTTPClient == nil {
			a.HTTPClient = &http.Client{}
		}
		if a.Sleep == nil {
			a.Sleep = sleepCtx
		}
		if a.SyslogDial == nil {
			a.SyslogDial = dialSyslog
		}
		if a.Dial == nil {
			a.Dial = (&net.Dialer{}).DialContext
		}
		if a.Version == "" {
			a.Version = "unknown"
		}
		a.stats = map[string]*counters{}
		for name := range a.Config.Actions {
			a.stats[name] = &counters{}
		}
	})
}

// Stats returns a snapshot of every action's counters, by action name.
func (a *Alerter) Stats() map[string]Stats {
	if a.Config == nil {
		return nil
	}
	a.init()
	out := make(map[string]Stats, len(a.stats))
	for name, c := range a.stats {
		out[name] = Stats{Matched: c.matched.Load(), Delivered: c.delivered.Load(), Failed: c.failed.Load(), Dropped: c.dropped.Load()}
	}
	return out
}

// Run consumes src until it ends or ctx is cancelled. Each action has its
// own worker and bounded queue, so a dead webhook delays only itself. When
// src ends on its own, queued events are delivered before Run returns; on
// cancellation they are abandoned (and, from an AckSource, settled as not
// handled). A cancelled ctx is a clean stop (nil). Call Run once per
// Alerter; Stats may be called concurrently.
func (a *Alerter) Run(ctx context.Context, src Source) error {
	if a.Config == nil {
		return errors.New("alerts: no config")
	}
	a.init()
	a.actions = map[string]deliverer{}
	a.queues = map[string]*queue{}
	for name, ac := range a.Config.Actions {
		d, err := a.newDeliverer(name, ac)
		if err != nil {
			return fmt.Errorf("alerts: action %s: %w", name, err)
		}
		a.actions[name] = d
		a.queues[name] = newQueue(max(a.Config.QueueSize, 1))
	}

	var wg sync.WaitGroup
	for name := range a.actions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.work(ctx, name)
		}()
	}
	var err error
	if as, ok := src.(AckSource); ok {
		err = as.EventsAck(ctx, a.dispatch)
	} else {
		err = src.Events(ctx, func(ev events.Event) error { return a.dispatch(ev, nil) })
	}
	for _, q := range a.queues {
		q.close()
	}
	wg.Wait()
	for _, d := range a.actions {
		if c, ok := d.(interface{ close() }); ok { // a kept connection
			c.close()
		}
	}
	for _, q := range a.queues { // left behind by a cancellation
		for _, j := range q.rest() {
			j.tr.done(true)
		}
	}
	if ctx.Err() != nil && (err == nil || errors.Is(err, ctx.Err())) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("alerts: source: %w", err)
	}
	return nil
}

func (a *Alerter) newDeliverer(name string, ac Action) (deliverer, error) {
	switch ac.Type {
	case ActionLog:
		return &logAction{name: name, log: a.Log}, nil
	case ActionSyslog:
		return &syslogAction{name: name, tag: ac.Tag, dial: a.SyslogDial}, nil
	case ActionWebhook:
		return &webhookAction{name: name, cfg: ac, client: a.HTTPClient, retrier: newRetrier(ActionWebhook, name, ac, a.Sleep, a.Rand, a.Log)}, nil
	case ActionCEF:
		return newCEFAction(name, ac, a.Version, a.Dial, newRetrier(ActionCEF, name, ac, a.Sleep, a.Rand, a.Log))
	case ActionCommand:
		return &commandAction{name: name, cfg: ac, log: a.Log}, nil
	}
	return nil, fmt.Errorf("unknown action type %q", ac.Type)
}

// dispatch routes one event; it never blocks on an action. settle (nil
// for a plain Source) is called once the event's actions are done with it.
func (a *Alerter) dispatch(ev events.Event, settle func(handled bool)) error {
	var order []string
	routed := map[string][]string{} // action -> rules, each action once per event
	for _, r := range a.Config.Rules {
		if !r.Match.Matches(ev) {
			continue
		}
		for _, act := range r.Actions {
			if _, ok := routed[act]; !ok {
				order = append(order, act)
			}
			routed[act] = append(routed[act], r.Name)
		}
	}
	var tr *tracker
	if settle != nil {
		if len(order) == 0 {
			settle(true)
			return nil
		}
		tr = &tracker{settle: settle}
		tr.left.Store(int32(len(order)))
	}
	for _, act := range order {
		q, c := a.queues[act], a.stats[act]
		if q == nil {
			tr.done(false) // validated configs cannot get here
			continue
		}
		c.matched.Add(1)
		if old, dropped := q.push(job{ev: ev, rules: routed[act], tr: tr}); dropped {
			old.tr.done(false) // counted as dropped: handled, not to come again
			n := c.dropped.Add(1)
			// Powers of two: a flood gets a handful of lines, not one per drop.
			if n&(n-1) == 0 {
				a.Log.Warn("alert queue full: dropped oldest event", "action", act, "dropped_total", n, "queue_size", a.Config.QueueSize)
			}
		}
	}
	return nil
}

func (a *Alerter) work(ctx context.Context, name string) {
	q, d, c := a.queues[name], a.actions[name], a.stats[name]
	for {
		j, ok := q.pop(ctx.Done())
		if !ok {
			return
		}
		body, err := json.Marshal(j.ev)
		if err == nil {
			err = d.deliver(ctx, j, body)
		}
		// A delivery cut short by the stop is abandoned: the event comes again.
		j.tr.done(err != nil && ctx.Err() != nil)
		if err != nil {
			c.failed.Add(1)
			a.Log.Error("alert delivery failed", "action", name, "rules", j.rules, "event_id", j.ev.ID, "type", j.ev.Type, "err", err)
			continue
		}
		c.delivered.Add(1)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if !retry.Sleep(ctx, d) {
		return ctx.Err()
	}
	return nil
}
