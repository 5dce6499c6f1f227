package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kuma-agent/kuma-agent/internal/alerts"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/natsbus"
)

// natsSource feeds the alerts subscriber from the events stream from
// --since on: a one-off replay that leaves the durable consumer alone.
type natsSource struct {
	js    jetstream.JetStream
	query natsbus.Query
}

func (s natsSource) Events(ctx context.Context, fn func(events.Event) error) error {
	return natsbus.Read(ctx, s.js, natsbus.DefaultStreamName, s.query, fn)
}

// alertsCommand has no shared --config: its --config is alerts.yaml, the
// agent's is --agent-config.
func alertsCommand(o stdio) *command {
	var (
		fset       *flag.FlagSet
		alertsPath string
		agentPath  string
		since      string
		check      bool
		status     bool
	)
	return &command{
		name:  "alerts",
		short: "the alerts subscriber: rules and actions on events (its own service)",
		usage: "kuma-agent alerts [--config FILE] [--agent-config FILE] [--since D|RFC3339] [--check] [--status]",
		help: "Acts on the cluster's events: rules on type, severity and node; actions log, syslog,\n" +
			"webhook and command. Reads each event twice, once live (core NATS: at once, even while\n" +
			"JetStream elects a consumer leader) and once through a JetStream durable consumer (the\n" +
			"catch-up after a restart), runs its actions once, and acknowledges the durable copy\n" +
			"once they ran.",
		flags: func(fs *flag.FlagSet) {
			fset = fs
			fs.StringVar(&alertsPath, "config", "/etc/kuma-agent/alerts.yaml", "alerts config: rules and actions")
			fs.StringVar(&agentPath, "agent-config", config.DefaultPath, "agent config file (for the NATS connection)")
			fs.StringVar(&since, "since", "", "replay stored events since (duration back or RFC 3339), then follow, without the durable consumer; default: the durable consumer (events since the last run)")
			fs.BoolVar(&check, "check", false, "validate the alerts config and exit")
			fs.BoolVar(&status, "status", false, "print the durable consumer's state (JSON: its leader, replicas, pending events) and exit")
		},
		exec: func(ctx context.Context, _ []string) error {
			acfg, err := alerts.LoadConfig(alertsPath)
			if err != nil {
				return exitWith(2, err)
			}
			if check {
				_, err := fmt.Fprintf(o.out, "%s is valid: %d rules, %d actions\n", alertsPath, len(acfg.Rules), len(acfg.Actions))
				return err
			}
			cfg, err := loadConfig(agentPath, flagSet(fset, "agent-config"))
			if err != nil {
				return exitWith(2, err)
			}
			from, err := parseSince(since, time.Now())
			if err != nil {
				return usageError{err}
			}
			durable := acfg.Durable
			if durable == "" {
				host, err := os.Hostname()
				if err != nil {
					return exitWith(2, fmt.Errorf("hostname for the durable consumer name (set durable: in %s): %w", alertsPath, err))
				}
				durable = alerts.DefaultDurable(host)
			}
			log := newLogger(o.err, cfg.LogLevel)
			// The connection's own reconnect chatter (logged asynchronously by the
			// client, even after Close) stays out unless it is an error.
			js, closeConn, err := connectEvents(ctx, cfg, "kuma-agent alerts", newLogger(o.err, "error"))
			if err != nil {
				return err
			}
			defer closeConn()
			if status {
				return printConsumerStatus(ctx, o, js, durable)
			}
			query := natsbus.Query{Cluster: cfg.Events.Cluster, Follow: true, Logger: log}
			var src alerts.Source
			if since != "" {
				query.Since = from
				src = natsSource{js: js, query: query}
				log.Info("kuma-agent alerts replaying", "since", from, "rules", len(acfg.Rules), "actions", len(acfg.Actions))
			} else {
				// Twice the queue: a dead action's full queue leaves room for the
				// others (it drops its oldest rather than stalling them).
				dur := alerts.DurableSource{JS: js,
					Durable: natsbus.Durable{Name: durable, Query: query, MaxAckPending: 2 * acfg.QueueSize}}
				src = dur
				live := "off"
				if acfg.Live {
					// Two paths: live (core NATS, at once, no consumer leader on
					// the way) and the durable consumer (the catch-up), one alert
					// per event; the window outlasts what the durable holds
					// unacknowledged (2 × the queue).
					src = &alerts.Paths{
						Live:    alerts.LiveSource{Conn: js.Conn(), Live: natsbus.Live{Query: query}},
						Durable: dur,
						Window:  max(alerts.DefaultWindow, 4*acfg.QueueSize),
						Log:     log,
					}
					live = natsbus.EventsSubject(cfg.Events.Cluster)
				}
				log.Info("kuma-agent alerts running", "durable", durable, "live", live,
					"rules", len(acfg.Rules), "actions", len(acfg.Actions))
			}
			al := alerts.New(acfg, log)
			al.Version = version // the CEF header's device version
			return al.Run(ctx, src)
		},
	}
}
