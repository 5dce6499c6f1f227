package alerts

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// sliceSource is a Source that yields a fixed list of events and ends.
type sliceSource []events.Event

func (s sliceSource) Events(ctx context.Context, fn func(events.Event) error) error {
	for _, ev := range s {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	return nil
}

// funcSource lets a test drive the event callback step by step.
type funcSource func(ctx context.Context, fn func(events.Event) error) error

func (f funcSource) Events(ctx context.Context, fn func(events.Event) error) error { return f(ctx, fn) }

func mustEvent(t testing.TB, node string, typ events.Type, sev events.Severity) events.Event {
	t.Helper()
	ev, err := events.New("prod", node, typ, "subj", sev, events.MemberData{Member: node, Status: "failed"},
		time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func eventWithID(i int) events.Event { return events.Event{ID: strconv.Itoa(i)} }
