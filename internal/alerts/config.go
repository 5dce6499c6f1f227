// Package alerts is `kuma-agent alerts`: a subscriber that matches events
// against rules and hands them to actions (log, syslog, webhook, command).
package alerts

import (
	"time"

	"github.com/kuma-agent/kuma-agent/internal/natsbus"
)

// Config is alerts.yaml.
type Config struct {
	// QueueSize bounds each action's backlog; when full the oldest event is
	// dropped so a slow webhook never stalls the subscription.
	QueueSize int `yaml:"queue_size"`
	// Durable names the JetStream durable consumer `kuma-agent alerts`
	// reads with: the server keeps which events were acknowledged (each
	// once its actions ran), so events stored while the subscriber was down
	// are alerted when it is back, once. Empty: DefaultDurable(hostname).
	// Subscribers sharing a name share the events.
	Durable string `yaml:"durable"`
	// Live reads the events on core NATS too (the live path, see Paths): an
	// alert does not wait for a consumer leader election. Default true.
	// Subscribers sharing a durable name each get every live event, so
	// they set it false to keep splitting the events between them.
	Live    bool              `yaml:"live"`
	Rules   []Rule            `yaml:"rules"`
	Actions map[string]Action `yaml:"actions"`
}

// DefaultDurable is the durable name of a host's subscriber:
// kuma-alerts-<hostname>, with what NATS does not allow in a name as '_'.
func DefaultDurable(hostname string) string { return "kuma-alerts-" + natsbus.NameToken(hostname) }

// Rule sends events that pass Match to the named actions.
type Rule struct {
	Name    string   `yaml:"name"`
	Match   Match    `yaml:"match"`
	Actions []string `yaml:"actions"`
}

// Match filters events. Every list is a set of path.Match globs; an empty
// list matches anything, and an event must pass all non-empty lists.
type Match struct {
	Types    []string `yaml:"types"`    // short types: member.failed, check.*
	Severity []string `yaml:"severity"` // info, warning, critical
	Nodes    []string `yaml:"nodes"`    // node names from the event source
}

// Action kinds.
const (
	ActionLog     = "log"
	ActionSyslog  = "syslog"
	ActionWebhook = "webhook"
	ActionCommand = "command"
	// ActionCEF sends events as CEF in RFC 5424 syslog messages to a
	// collector (KUMA's), over TCP, TLS or UDP.
	ActionCEF = "cef"
)

// Action is one named way to deliver an event. Which fields apply depends on
// Type (see actionKeys).
type Action struct {
	Type       string            `yaml:"type"`
	URL        string            `yaml:"url"`
	Headers    map[string]string `yaml:"headers"`
	Timeout    time.Duration     `yaml:"timeout"`
	Retries    int               `yaml:"retries"`
	Backoff    time.Duration     `yaml:"backoff"`
	MaxBackoff time.Duration     `yaml:"max_backoff"`
	Command    []string          `yaml:"command"`
	Tag        string            `yaml:"tag"` // syslog tag
	// cef: the collector's host:port, the transport (tcp, tls, udp), and
	// for tls the CA bundle that signs the collector's certificate (empty:
	// the system's) and the name to verify (empty: address's host).
	Address    string `yaml:"address"`
	Transport  string `yaml:"transport"`
	CAFile     string `yaml:"ca_file"`
	ServerName string `yaml:"server_name"`
}

// DefaultQueueSize is used when queue_size is absent.
const DefaultQueueSize = 1024

// actionKeys lists the keys valid for each action type, so a `url:` on a
// command action is reported instead of silently ignored.
var actionKeys = map[string][]string{
	ActionLog:     {"type"},
	ActionSyslog:  {"type", "tag"},
	ActionWebhook: {"type", "url", "headers", "timeout", "retries", "backoff", "max_backoff"},
	ActionCommand: {"type", "command", "timeout"},
	ActionCEF:     {"type", "address", "transport", "ca_file", "server_name", "timeout", "retries", "backoff", "max_backoff"},
}

// actionDefaults fills what an action of each type leaves out.
var actionDefaults = map[string]Action{
	ActionLog:     {},
	ActionSyslog:  {Tag: "kuma-agent-alerts"},
	ActionWebhook: {Timeout: 5 * time.Second, Retries: 3, Backoff: time.Second, MaxBackoff: 30 * time.Second},
	ActionCommand: {Timeout: 10 * time.Second},
	ActionCEF:     {Transport: "tcp", Timeout: 5 * time.Second, Retries: 3, Backoff: time.Second, MaxBackoff: 30 * time.Second},
}

// cefTransports are the transports of a cef action.
var cefTransports = []string{"tcp", "tls", "udp"}
