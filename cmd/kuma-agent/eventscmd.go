package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kuma-agent/kuma-agent/agent"
	"github.com/kuma-agent/kuma-agent/internal/alerts"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/doctor"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/natsbus"
)

// connectEvents opens the events stream as the agent's config describes.
func connectEvents(ctx context.Context, cfg config.Config, name string, log *slog.Logger) (jetstream.JetStream, func(), error) {
	o, err := agent.NATSClientOptions(cfg, name, log)
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

func runEvents(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("events", flag.ContinueOnError)
	fset.SetOutput(stderr)
	cfgPath := fset.String("config", config.DefaultPath, "agent config file (for the NATS connection)")
	follow := fset.Bool("follow", false, "keep printing new events")
	node := fset.String("node", "", "only events from this node")
	since := fset.String("since", "", "only events since (duration back, e.g. 10m, or RFC 3339 time)")
	format := fset.String("format", "table", "table or json (one CloudEvent per line)")
	var types listFlag
	fset.Var(&types, "type", "only these event types, e.g. member.failed (comma-separated; repeatable)")
	if err := fset.Parse(args); err != nil || fset.NArg() > 0 {
		return 2
	}
	if *format != "table" && *format != "json" {
		fmt.Fprintf(stderr, "kuma-agent events: unknown --format %q (table or json)\n", *format)
		return 2
	}
	q := natsbus.Query{Node: *node, Follow: *follow}
	for _, t := range types {
		q.Types = append(q.Types, events.Type(t))
	}
	var err error
	if q.Since, err = parseSince(*since, time.Now()); err != nil {
		fmt.Fprintf(stderr, "kuma-agent events: %v\n", err)
		return 2
	}
	cfg, err := loadConfig(*cfgPath, flagSet(fset, "config"))
	if err != nil {
		fmt.Fprintf(stderr, "kuma-agent: %v\n", err)
		return 2
	}
	q.Cluster = cfg.Events.Cluster
	if _, err := q.Subjects(); err != nil {
		fmt.Fprintf(stderr, "kuma-agent events: %v\n", err)
		return 2
	}
	log := newLogger(stderr, "error") // a reader's own connect/disconnect is no news
	js, closeConn, err := connectEvents(ctx, cfg, "kuma-agent events", log)
	if err != nil {
		fmt.Fprintf(stderr, "kuma-agent events: %v\n", err)
		return 1
	}
	defer closeConn()
	q.Logger = log
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if *format == "table" {
		fmt.Fprintln(tw, "TIME\tNODE\tTYPE\tSEVERITY\tSUBJECT\tDATA")
	}
	err = natsbus.Read(ctx, js, natsbus.DefaultStreamName, q, func(e events.Event) error {
		if *format == "json" {
			b, _ := json.Marshal(e)
			_, err := fmt.Fprintln(stdout, string(b))
			return err
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05.000"), e.Node(), e.ShortType(),
			e.Severity, e.Subject, summarize(e.Data))
		if *follow {
			return tw.Flush()
		}
		return nil
	})
	tw.Flush()
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "kuma-agent events: %v\n", err)
		return 1
	}
	return 0
}

// summarize prints event data compactly on one line.
func summarize(raw json.RawMessage) string {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return string(raw)
	}
	var parts []string
	for _, k := range []string{"check", "from", "to", "member", "status", "unit", "action", "purpose", "holder", "count", "message"} {
		if v, ok := m[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	return doctor.OneLine(strings.Join(parts, " "))
}

// durableSource feeds the alerts subscriber from its durable consumer:
// each event is acknowledged once its actions ran, so events stored while
// the subscriber was down come when it is back, and none twice.
type durableSource struct {
	js      jetstream.JetStream
	durable natsbus.Durable
}

func (s durableSource) EventsAck(ctx context.Context, fn func(events.Event, func(bool)) error) error {
	return natsbus.ReadDurable(ctx, s.js, natsbus.DefaultStreamName, s.durable, func(e events.Event, settle natsbus.Settle) error {
		return fn(e, settle)
	})
}

// Events acknowledges each event as soon as fn took it.
func (s durableSource) Events(ctx context.Context, fn func(events.Event) error) error {
	return s.EventsAck(ctx, func(e events.Event, settle func(bool)) error {
		err := fn(e)
		settle(true)
		return err
	})
}

// natsSource feeds the alerts subscriber from the events stream from
// --since on: a one-off replay that leaves the durable consumer alone.
type natsSource struct {
	js    jetstream.JetStream
	query natsbus.Query
}

func (s natsSource) Events(ctx context.Context, fn func(events.Event) error) error {
	return natsbus.Read(ctx, s.js, natsbus.DefaultStreamName, s.query, fn)
}

func runAlerts(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("alerts", flag.ContinueOnError)
	fset.SetOutput(stderr)
	alertsPath := fset.String("config", "/etc/kuma-agent/alerts.yaml", "alerts config: rules and actions")
	agentPath := fset.String("agent-config", config.DefaultPath, "agent config file (for the NATS connection)")
	since := fset.String("since", "", "replay stored events since (duration back or RFC 3339), then follow, without the durable consumer; default: the durable consumer (events since the last run)")
	check := fset.Bool("check", false, "validate the alerts config and exit")
	if err := fset.Parse(args); err != nil || fset.NArg() > 0 {
		return 2
	}
	acfg, err := alerts.LoadConfig(*alertsPath)
	if err != nil {
		fmt.Fprintf(stderr, "kuma-agent alerts: %v\n", err)
		return 2
	}
	if *check {
		fmt.Fprintf(stdout, "%s is valid: %d rules, %d actions\n", *alertsPath, len(acfg.Rules), len(acfg.Actions))
		return 0
	}
	cfg, err := loadConfig(*agentPath, flagSet(fset, "agent-config"))
	if err != nil {
		fmt.Fprintf(stderr, "kuma-agent: %v\n", err)
		return 2
	}
	var from time.Time
	if *since != "" {
		if from, err = parseSince(*since, time.Now()); err != nil {
			fmt.Fprintf(stderr, "kuma-agent alerts: %v\n", err)
			return 2
		}
	}
	durable := acfg.Durable
	if durable == "" {
		host, err := os.Hostname()
		if err != nil {
			fmt.Fprintf(stderr, "kuma-agent alerts: hostname for the durable consumer name (set durable: in %s): %v\n", *alertsPath, err)
			return 2
		}
		durable = alerts.DefaultDurable(host)
	}
	log := newLogger(stderr, cfg.LogLevel)
	// The connection's own reconnect chatter (logged asynchronously by the
	// client, even after Close) stays out unless it is an error.
	js, closeConn, err := connectEvents(ctx, cfg, "kuma-agent alerts", newLogger(stderr, "error"))
	if err != nil {
		fmt.Fprintf(stderr, "kuma-agent alerts: %v\n", err)
		return 1
	}
	defer closeConn()
	query := natsbus.Query{Cluster: cfg.Events.Cluster, Follow: true, Logger: log}
	var src alerts.Source
	if *since != "" {
		query.Since = from
		src = natsSource{js: js, query: query}
		log.Info("kuma-agent alerts replaying", "since", from, "rules", len(acfg.Rules), "actions", len(acfg.Actions))
	} else {
		// Twice the queue: a dead action's full queue leaves room for the
		// others (it drops its oldest rather than stalling them).
		src = durableSource{js: js, durable: natsbus.Durable{Name: durable, Query: query, MaxAckPending: 2 * acfg.QueueSize}}
		log.Info("kuma-agent alerts running", "durable", durable, "rules", len(acfg.Rules), "actions", len(acfg.Actions))
	}
	if err := alerts.New(acfg, log).Run(ctx, src); err != nil {
		fmt.Fprintf(stderr, "kuma-agent alerts: %v\n", err)
		return 1
	}
	return 0
}
