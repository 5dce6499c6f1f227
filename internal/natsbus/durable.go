package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/retry"
)

// Defaults for zero Durable fields.
const (
	DefaultAckWait       = 30 * time.Second
	DefaultMaxAckPending = 1024
)

// Durable is a durable consumer on the events stream. The server keeps its
// position: a subscriber that was away gets, when it is back, the events
// stored meanwhile, and none it acknowledged before. Subscribers using the
// same name share the events (each goes to one of them).
type Durable struct {
	// Name is the durable name: no spaces, '.', '*', '>', '/' or '\'.
	Name string
	// Query filters by Types, Node and Cluster; Since and Follow do not
	// apply (a new consumer starts with the events stored after it).
	Query Query
	// AckWait is how long the server waits for a settlement before it
	// delivers an event again; ReadDurable renews it every AckWait/3 for
	// the events still being handled. 0: DefaultAckWait.
	AckWait time.Duration
	// MaxAckPending bounds the events handed out and not yet settled; the
	// server holds back the rest. 0: DefaultMaxAckPending.
	MaxAckPending int
}

// Settle ends the handling of an event read by ReadDurable: handled true
// acknowledges it (never delivered again), false asks for it again at once.
// Only the first call counts; it may come from any goroutine.
type Settle func(handled bool)

// ValidDurableName reports why name cannot name a durable consumer, or nil.
func ValidDurableName(name string) error {
	switch {
	case name == "":
		return errors.New("is empty")
	case len(name) > 255:
		return errors.New("is longer than 255 bytes")
	case strings.ContainsFunc(name, badInName):
		return fmt.Errorf("%q holds a character NATS does not allow in a consumer name (space, '.', '*', '>', '/', '\\')", name)
	}
	return nil
}

// NameToken is s with every character a consumer name may not hold as '_'.
func NameToken(s string) string {
	return strings.Map(func(r rune) rune {
		if badInName(r) {
			return '_'
		}
		return r
	}, s)
}

func badInName(r rune) bool { return r <= ' ' || r == 0x7f || strings.ContainsRune(".*>/\\", r) }

// ReadDurable creates (or updates) the durable consumer d on stream and
// calls fn for each event it delivers, oldest first, until ctx is done
// (nil) or fn fails (its error). fn must not block: it gets the event and
// the Settle to call once the event is handled; until then ReadDurable
// keeps the server from re-delivering it. An undecodable message is logged
// and terminated (never delivered again).
func ReadDurable(ctx context.Context, js jetstream.JetStream, stream string, d Durable, fn func(events.Event, Settle) error) error {
	log := d.Query.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := ValidDurableName(d.Name); err != nil {
		return fmt.Errorf("read %s: durable name %w", stream, err)
	}
	subjects, err := d.Query.Subjects()
	if err != nil {
		return err
	}
	ackWait := d.AckWait
	if ackWait <= 0 {
		ackWait = DefaultAckWait
	}
	maxPending := d.MaxAckPending
	if maxPending <= 0 {
		maxPending = DefaultMaxAckPending
	}
	start := time.Now()
	cfg := jetstream.ConsumerConfig{
		Durable: d.Name, AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait, MaxAckPending: maxPending,
	}
	if len(subjects) == 1 { // one filter subject: old servers lack FilterSubjects
		cfg.FilterSubject = subjects[0]
	} else {
		cfg.FilterSubjects = subjects
	}
	// The agents create the stream; after a cluster start that takes a
	// while (placement waits for its replicas). Wait for it, not exit.
	var cons jetstream.Consumer
	if retry.Do(ctx, streamWait, func(ctx context.Context) error {
		cons, err = ensureDurable(ctx, js, stream, cfg, start)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return err
		}
		return nil // made, or an error that waiting does not cure
	}, func(_ error, wait time.Duration) {
		log.Info("waiting for the events stream (the agents create it)", "stream", stream, "retry_in", wait)
	}) != nil || ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: durable consumer %s: %w", stream, d.Name, err)
	}

	out := &outstanding{msgs: map[*settlement]struct{}{}, log: log}
	hbCtx, hbStop := context.WithCancel(ctx)
	defer hbStop()
	go out.keepAlive(hbCtx, ackWait/3)
	p := pull{cons: cons, stream: stream, name: d.Name, batch: min(maxPending, 256), fn: fn, out: out, log: log,
		query: d.Query, forged: new(uint64)}
	for failures := 0; ; {
		delivered, err := p.run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, errPullBroken) {
			return err
		}
		// Start a new pull on the durable consumer, which keeps its place,
		// after a pause that grows while pulls keep failing at once.
		if delivered {
			failures = 0
		}
		wait := resumeWait.Delay(failures)
		failures++
		log.Warn("events: consumer read failed; resuming", "consumer", d.Name, "err", err, "retry_in", wait)
		if !retry.Sleep(ctx, wait) {
			return nil
		}
	}
}

// Waits of ReadDurable: for the stream to exist, and before a new pull
// after one broke.
var (
	streamWait = retry.Backoff{Min: 500 * time.Millisecond, Max: 5 * time.Second}
	resumeWait = retry.Backoff{Min: time.Second, Max: 30 * time.Second}
)

// errPullBroken marks a pull that failed in a way a new pull may cure.
var errPullBroken = errors.New("pull broken")

// pull is one Messages iterator on a durable consumer at a time.
type pull struct {
	cons         jetstream.Consumer
	stream, name string
	batch        int
	fn           func(events.Event, Settle) error
	out          *outstanding
	log          *slog.Logger
	query        Query
	forged       *uint64 // dropped so far, across pulls
}

// run reads one iterator until ctx ends (nil), fn fails (its error) or
// the iterator breaks (an error wrapping errPullBroken); delivered tells
// whether any event reached fn. The iterator is this call's alone: the
// context.AfterFunc that stops it on ctx's end is bound to it and undone
// before run returns, so no iterator is stopped from another goroutine
// while a new one is made, and none is left running.
func (p pull) run(ctx context.Context) (delivered bool, err error) {
	it, err := p.cons.Messages(jetstream.PullMaxMessages(p.batch))
	if err != nil {
		return false, fmt.Errorf("read %s: durable consumer %s: messages: %w", p.stream, p.name, err)
	}
	defer it.Stop()
	// On ctx's end the iterator is drained, not just stopped: Drain
	// unsubscribes and waits until the server has processed it, and the
	// messages already delivered to this client (prefetched, or sent to the
	// pull before the server saw the unsubscribe) still come out of Next.
	// They are handed back at once (nak) below. Stopped instead, they would
	// sit unacknowledged until AckWait (30 s) before the next subscriber
	// got them: the delay that made TestAlertsCommandResumesAfterRestart
	// fail under load.
	stop := context.AfterFunc(ctx, func() { it.Drain() })
	defer stop()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return delivered, nil
			}
			if errors.Is(err, jetstream.ErrNoHeartbeat) {
				// The server holding the pull went away (a hub lost, a
				// new consumer leader): the iterator pulls again.
				p.log.Warn("events: consumer heartbeat missed; pulling again", "consumer", p.name)
				continue
			}
			return delivered, fmt.Errorf("%w: %w", errPullBroken, err)
		}
		if ctx.Err() != nil {
			if err := msg.Nak(); err != nil {
				p.log.Warn("events: handing back an event on shutdown", "subject", msg.Subject(), "err", err)
			}
			continue
		}
		var e events.Event
		if err := decode(msg.Data(), &e); err != nil {
			p.log.Warn("events: undecodable message skipped", "subject", msg.Subject(), "err", err)
			if err := msg.Term(); err != nil {
				p.log.Warn("events: terminating an undecodable message", "subject", msg.Subject(), "err", err)
			}
			continue
		}
		if err := CheckOrigin(msg.Subject(), e); err != nil {
			dropForged(p.log, p.query, p.forged, msg.Subject(), e, err)
			if err := msg.Term(); err != nil {
				p.log.Warn("events: terminating a forged event", "subject", msg.Subject(), "err", err)
			}
			continue
		}
		delivered = true
		if err := p.fn(e, p.out.add(msg, e.ID)); err != nil {
			return delivered, err
		}
	}
}

// outstanding are the messages handed out and not settled yet.
type outstanding struct {
	mu   sync.Mutex
	msgs map[*settlement]struct{}
	log  *slog.Logger
}

type settlement struct {
	msg  jetstream.Msg
	id   string
	once sync.Once
}

func (o *outstanding) add(msg jetstream.Msg, id string) Settle {
	s := &settlement{msg: msg, id: id}
	o.mu.Lock()
	o.msgs[s] = struct{}{}
	o.mu.Unlock()
	return func(handled bool) {
		s.once.Do(func() {
			o.mu.Lock()
			delete(o.msgs, s)
			o.mu.Unlock()
			verb, settle := "ack", s.msg.Ack
			if !handled {
				verb, settle = "nak", s.msg.Nak
			}
			if err := settle(); err != nil {
				// Unsettled, the server delivers it again after AckWait.
				o.log.Warn("events: "+verb+" failed", "event_id", s.id, "err", err)
			}
		})
	}
}

// keepAlive tells the server, every period, that the outstanding messages
// are still being worked on, so AckWait does not expire under a slow action.
func (o *outstanding) keepAlive(ctx context.Context, period time.Duration) {
	t := time.NewTicker(max(period, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		o.mu.Lock()
		msgs := make([]jetstream.Msg, 0, len(o.msgs))
		for s := range o.msgs {
			msgs = append(msgs, s.msg)
		}
		o.mu.Unlock()
		for _, m := range msgs {
			_ = m.InProgress() // a settled one is settled; the server ignores it
		}
	}
}

// ensureDurable creates the durable consumer or updates an existing one.
// A new one starts at the subscriber's start time rather than at "new": a
// replicated consumer's start is fixed only when its leader is elected, and
// events stored in between would be skipped. An existing one keeps its
// delivery start (the server refuses to change it), so it resumes where it
// left off.
func ensureDurable(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig, start time.Time) (jetstream.Consumer, error) {
	c, err := js.Consumer(ctx, stream, cfg.Durable)
	switch {
	case err == nil:
		old := c.CachedInfo().Config
		cfg.DeliverPolicy, cfg.OptStartTime, cfg.OptStartSeq = old.DeliverPolicy, old.OptStartTime, old.OptStartSeq
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	default:
		return nil, err
	}
	return js.CreateOrUpdateConsumer(ctx, stream, cfg)
}
