package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/doctor"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/natsbus"
	"github.com/kuma-agent/kuma-agent/internal/plan"
)

// connectEvents opens the events stream as the agent's config describes.
func connectEvents(ctx context.Context, cfg config.Config, name string, log *slog.Logger) (jetstream.JetStream, func(), error) {
	o, err := natsbus.ClientOptionsFor(cfg, name, log)
	if err != nil {
		return nil, nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nc, err := natsbus.Connect(cctx, o)
	if err != nil {
		return nil, nil, fmt.Errorf("NATS at %s: %w (is the agent running? events.nats in %s)", o.URL, err, config.DefaultPath)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return js, nc.Close, nil
}

// parseSince accepts a duration back from now ("10m") or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q: want a duration such as 10m or a time such as 2026-11-23T10:00:00Z", s)
	}
	return t, nil
}

func eventsCommand(o stdio) *command {
	var (
		sh          shared
		follow      bool
		node, since string
		types       listFlag
	)
	return &command{
		name:  "events",
		short: "read the cluster's events (--follow to tail them)",
		usage: "kuma-agent events [--follow] [--type T,..] [--node N] [--since 10m|RFC3339] [--format table|json]",
		help:  "Reads the cluster's events from the JetStream stream (json: one CloudEvent per line).",
		flags: func(fs *flag.FlagSet) {
			sh.register(fs, "agent config file (for the NATS connection)", tableOrJSON, 0)
			fs.BoolVar(&follow, "follow", false, "keep printing new events")
			fs.StringVar(&node, "node", "", "only events from this node")
			fs.StringVar(&since, "since", "", "only events since (duration back, e.g. 10m, or RFC 3339 time)")
			fs.Var(&types, "type", "only these event `types`, e.g. member.failed (comma-separated; repeatable)")
		},
		exec: func(ctx context.Context, _ []string) error {
			q := natsbus.Query{Node: node, Follow: follow}
			for _, t := range types {
				q.Types = append(q.Types, events.Type(t))
			}
			var err error
			if q.Since, err = parseSince(since, time.Now()); err != nil {
				return usageError{err}
			}
			cfg, err := sh.loadConfig()
			if err != nil {
				return err
			}
			q.Cluster = cfg.Events.Cluster
			if _, err := q.Subjects(); err != nil {
				return usageError{err}
			}
			log := newLogger(o.err, "error") // a reader's own connect/disconnect is no news
			js, closeConn, err := connectEvents(ctx, cfg, "kuma-agent events", log)
			if err != nil {
				return err
			}
			defer closeConn()
			q.Logger = log
			// Read once, the table is printed at the end, fitted to its rows;
			// followed, row by row in fixed widths.
			var emit func(events.Event) error
			var rows [][]string
			switch {
			case sh.format == "json":
				emit = func(e events.Event) error {
					b, _ := json.Marshal(e)
					_, err := fmt.Fprintln(o.out, string(b))
					return err
				}
			case follow:
				ft := newFollowTable(o.out, knownNodes(cfg, node))
				if err := ft.row(eventHeader); err != nil {
					return err
				}
				emit = func(e events.Event) error { return ft.row(eventRow(e)) }
			default:
				rows = [][]string{eventHeader}
				emit = func(e events.Event) error {
					rows = append(rows, eventRow(e))
					return nil
				}
			}
			err = natsbus.Read(ctx, js, natsbus.DefaultStreamName, q, emit)
			if rows != nil {
				err = errors.Join(err, fittedTable(o.out, rows).rows(rows))
			}
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
}

var eventHeader = []string{"TIME", "NODE", "TYPE", "SEVERITY", "SUBJECT", "DATA"}

const eventTimeLayout = "2006-01-02 15:04:05.000"

// eventRow is one event's cells; everything the event carries is escaped
// (a node's name, a subject, data: any publisher with access to the stream
// wrote them).
func eventRow(e events.Event) []string {
	return []string{e.Time.Local().Format(eventTimeLayout), esc(e.Node()), esc(string(e.ShortType())),
		esc(string(e.Severity)), esc(e.Subject), summarize(e.Data)}
}

// defaultNodeWidth is the NODE column's width when no inventory names the
// nodes: room for names such as kuma-core-1.example.com.
const defaultNodeWidth = 24

// knownNodes are the node names the events may carry: the inventory's
// hosts (from the config's inventory:, if it reads), and --node.
func knownNodes(cfg config.Config, node string) []string {
	var names []string
	if c, err := plan.LoadCluster(cfg.Inventory); err == nil && c != nil {
		for _, h := range c.Hosts {
			names = append(names, h.Name)
		}
	}
	if node != "" {
		names = append(names, node)
	}
	return names
}

// eventTable prints rows in columns of fixed widths (all but the last
// column, DATA, which is not padded); a longer value widens its column from
// that row on.
type eventTable struct {
	w      io.Writer
	widths []int
}

// newFollowTable is the table for --follow, whose rows are printed one at a
// time: TIME, TYPE and SEVERITY are as wide as their longest value can be,
// NODE and SUBJECT (mostly node and check names) as the longest known node
// name, or defaultNodeWidth without an inventory. So rows line up (tabwriter
// flushed for each row aligned each row on its own).
func newFollowTable(w io.Writer, nodes []string) *eventTable {
	node := defaultNodeWidth
	if len(nodes) > 0 {
		node = 0
		for _, n := range nodes {
			node = max(node, utf8.RuneCountInString(n))
		}
	}
	typ := 0
	for _, ty := range events.Types {
		typ = max(typ, len(ty))
	}
	t := &eventTable{w: w, widths: []int{len(eventTimeLayout), node, typ, len(events.SeverityCritical), node}}
	t.fit(eventHeader)
	return t
}

// fittedTable is a table as wide as rows need.
func fittedTable(w io.Writer, rows [][]string) *eventTable {
	t := &eventTable{w: w, widths: make([]int, len(eventHeader)-1)}
	for _, r := range rows {
		t.fit(r)
	}
	return t
}

func (t *eventTable) fit(cells []string) {
	for i := range t.widths {
		t.widths[i] = max(t.widths[i], utf8.RuneCountInString(cells[i]))
	}
}

func (t *eventTable) row(cells []string) error {
	t.fit(cells)
	var b strings.Builder
	for i, c := range cells[:len(t.widths)] {
		fmt.Fprintf(&b, "%-*s  ", t.widths[i], c)
	}
	b.WriteString(cells[len(t.widths)])
	_, err := io.WriteString(t.w, strings.TrimRight(b.String(), " ")+"\n")
	return err
}

func (t *eventTable) rows(rows [][]string) error {
	for _, r := range rows {
		if err := t.row(r); err != nil {
			return err
		}
	}
	return nil
}

// summarize prints event data compactly on one line.
func summarize(raw json.RawMessage) string {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return doctor.OneLine(string(raw))
	}
	var parts []string
	for _, k := range []string{"check", "from", "to", "member", "status", "unit", "action", "purpose", "holder", "count", "message"} {
		if v, ok := m[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	return doctor.OneLine(strings.Join(parts, " "))
}
