package alerts

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// DefaultWindow is how many event ids Paths remembers when Window is 0:
// far more than the durable consumer holds unacknowledged (2 × the queue
// size) or than are published while a consumer leader is elected.
const DefaultWindow = 8192

// Paths is the subscriber's source with two paths: Live delivers an event
// the moment a server relays its publish (a core-NATS subscription, no
// consumer leader to wait for), Durable is the catch-up that delivers
// every event at least once, also those published while the subscriber
// was away or that Live dropped. Each event's actions run once, from the
// first copy; every durable copy is acknowledged only once the actions of
// its event are done (at once if they already are), so what the live path
// alerted is not alerted again after a restart, and what it did not is.
//
// The one duplicate left: the subscriber stops after the live copy's
// actions ran and before the durable copy came and was acknowledged; the
// durable consumer delivers that event again after the restart (the
// memory of ids is not kept across restarts: at-least-once, like a
// restart between an action and its acknowledgement on the durable path).
// A copy of an id older than the last Window ids alerts again too
// (counted when its durable copy had not come yet).
type Paths struct {
	Live    Source // nil: the durable path alone
	Durable AckSource
	// Window bounds the event ids remembered; 0 means DefaultWindow.
	Window int
	Log    *slog.Logger

	// Duplicates counts the copies that ran no action (a later copy of an
	// event: live, durable or re-published).
	Duplicates atomic.Uint64

	seen *seen
}

// Events delivers each event once and considers it handled when fn returns.
func (p *Paths) Events(ctx context.Context, fn func(events.Event) error) error {
	return p.EventsAck(ctx, func(ev events.Event, settle func(bool)) error {
		err := fn(ev)
		settle(true)
		return err
	})
}

// EventsAck runs both paths until ctx ends or Durable ends; fn gets each
// event once, with a settle to call once its actions are done. A live
// path that fails (its subscription refused by a server of an older
// agent, say) is logged and the durable path carries on alone.
func (p *Paths) EventsAck(ctx context.Context, fn func(events.Event, func(bool)) error) error {
	log := p.Log
	if log == nil {
		log = slog.Default()
	}
	window := p.Window
	if window <= 0 {
		window = DefaultWindow
	}
	p.seen = newSeen(window)
	p.seen.onForget = func(n uint64) {
		if n&(n-1) == 0 { // powers of two: a flood gets a handful of lines
			log.Warn("alerts: an event id was forgotten before its durable copy came: that copy will alert again",
				"forgotten_total", n, "window", window)
		}
	}
	var call sync.Mutex // fn is called by one path at a time
	// once runs fn for the first copy of an event (e, taken by either path)
	// and counts every later copy.
	once := func(ev events.Event, e *entry, first bool) error {
		if !first {
			p.Duplicates.Add(1)
			return nil
		}
		call.Lock()
		defer call.Unlock()
		return fn(ev, func(handled bool) { p.seen.finish(e, handled) })
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	liveDone := make(chan struct{})
	go func() {
		defer close(liveDone)
		if p.Live == nil {
			return
		}
		err := p.Live.Events(ctx, func(ev events.Event) error {
			e, first := p.seen.takeLive(copyKey(ev))
			return once(ev, e, first)
		})
		if ctx.Err() == nil {
			// Not fatal: the durable path delivers everything, later.
			log.Warn("alerts: live path stopped: events come through the durable consumer only", "err", err)
		}
	}()
	err := p.Durable.EventsAck(ctx, func(ev events.Event, settle func(bool)) error {
		e, first := p.seen.takeDurable(copyKey(ev), settle)
		return once(ev, e, first)
	})
	cancel()
	<-liveDone
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// copyKey is what makes two events copies of one: the id, and the type and
// subject with it. A member event's id is the same from every agent that
// saw the change (events.MemberEventID), so it is predictable: keyed on the
// id alone, an agent could spend it on an event of its own beforehand and
// the real one would run nothing. The agents' own copies agree on all
// three.
func copyKey(ev events.Event) string {
	return ev.Type + "\x00" + ev.Subject + "\x00" + ev.ID
}
