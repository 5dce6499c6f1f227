package alerts

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/config"
)

func exampleConfigPath() string { return filepath.Join("..", "..", "packaging", "alerts.yaml") }

func TestLoadExampleConfig(t *testing.T) {
	cfg, err := LoadConfig(exampleConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Rules) != 3 || cfg.Rules[0].Name != "core-down" {
		t.Fatalf("rules = %+v", cfg.Rules)
	}
	hook := cfg.Actions["ops-webhook"]
	if hook.Type != ActionWebhook || hook.Retries != 5 || hook.Backoff != time.Second || hook.MaxBackoff != 30*time.Second || hook.Headers["X-Token"] != "change-me" {
		t.Errorf("ops-webhook = %+v", hook)
	}
	if page := cfg.Actions["page"]; len(page.Command) != 2 || page.Command[0] != "/usr/local/bin/page-oncall" || page.Timeout != 10*time.Second {
		t.Errorf("page = %+v", page)
	}
	if m := cfg.Rules[0].Match; len(m.Types) != 2 || m.Nodes[0] != "kuma-core-*" || m.Severity[0] != "critical" {
		t.Errorf("core-down match = %+v", m)
	}
}

func TestDecodeDefaults(t *testing.T) {
	cfg, err := Decode("a.yaml", []byte(`
rules:
  - name: r
    actions: [h, h0]
actions:
  h: {type: webhook, url: "http://127.0.0.1:1/x"}
  h0: {type: webhook, url: "http://127.0.0.1:1/x", retries: 0}
`))
	if err != nil {
		t.Fatal(err)
	}
	def := actionDefaults[ActionWebhook]
	h := cfg.Actions["h"]
	if h.Timeout != def.Timeout || h.Retries != def.Retries || h.Backoff != def.Backoff || h.MaxBackoff != def.MaxBackoff {
		t.Errorf("defaults not applied: %+v", h)
	}
	if cfg.Actions["h0"].Retries != 0 {
		t.Errorf("explicit retries: 0 became %d", cfg.Actions["h0"].Retries)
	}
	if cfg.QueueSize != DefaultQueueSize {
		t.Errorf("queue_size = %d", cfg.QueueSize)
	}
	if cfg.Durable != "" {
		t.Errorf("durable = %q, want empty (the CLI uses DefaultDurable)", cfg.Durable)
	}
	if !cfg.Live {
		t.Error("live is off by default, want on")
	}
	off, err := Decode("a.yaml", []byte("live: false\nrules: [{name: r, actions: [j]}]\nactions: {j: {type: log}}\n"))
	if err != nil || off.Live {
		t.Errorf("live: false decoded as %v, %v", off.Live, err)
	}
}

func TestDurableName(t *testing.T) {
	cfg, err := Decode("a.yaml", []byte("durable: ops-alerts\nrules: [{name: r, actions: [j]}]\nactions: {j: {type: log}}\n"))
	if err != nil || cfg.Durable != "ops-alerts" {
		t.Fatalf("durable = %q, %v", cfg.Durable, err)
	}
	if got := DefaultDurable("kuma-core-1.example.com"); got != "kuma-alerts-kuma-core-1_example_com" {
		t.Errorf("DefaultDurable = %q", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	const base = `rules:
  - name: r
    match: {types: [member.failed]}
    actions: [j]
actions:
  j: {type: log}
`
	cases := []struct {
		name string
		yaml string
		line int
		key  string
		msg  string
	}{
		{"unknown top key", base + "bogus: 1\n", 7, "bogus", "unknown key"},
		{"unknown rule key", strings.Replace(base, "    actions: [j]", "    action: [j]", 1), 4, "rules[0].action", "unknown key"},
		{"unknown match key in flow map", strings.Replace(base, "{types: [member.failed]}", "{types: [member.failed], sev: [critical]}", 1), 3, "rules[0].match.sev", "unknown key"},
		{"bad duration", base + "  h: {type: webhook, url: \"http://127.0.0.1:9/\", timeout: 5 minutes}\n", 7, "actions.h.timeout", "time.Duration"},
		{"wrong type", base + "queue_size: lots\n", 7, "queue_size", "cannot unmarshal"},
		{"undefined action", strings.Replace(base, "[j]", "[j, ops]", 1), 4, "rules[0].actions[1]", `action "ops" is not defined`},
		{"empty command", base + "  p:\n    type: command\n    command: []\n", 9, "actions.p.command", "is required"},
		{"missing command", base + "  p:\n    type: command\n", 7, "actions.p.command", "is required"},
		{"relative command", base + "  p: {type: command, command: [page-oncall]}\n", 7, "actions.p.command", "absolute path"},
		{"unknown action type", base + "  x: {type: email}\n", 7, "actions.x.type", "not an action type"},
		{"key not for type", base + "  p: {type: command, command: [/bin/true], url: \"http://x/\"}\n", 7, "actions.p.url", "does not apply"},
		{"bad severity", strings.Replace(base, "{types: [member.failed]}", "{severity: [fatal]}", 1), 3, "rules[0].match.severity[0]", "matches none"},
		{"unknown event type", strings.Replace(base, "member.failed", "member.exploded", 1), 3, "rules[0].match.types[0]", "matches none"},
		{"bad glob", strings.Replace(base, "{types: [member.failed]}", "{nodes: [\"kuma-[\"]}", 1), 3, "rules[0].match.nodes[0]", "not a valid glob"},
		{"webhook without url", base + "  h:\n    type: webhook\n", 7, "actions.h.url", "is required"},
		{"max_backoff below backoff", base + "  h: {type: webhook, url: \"http://127.0.0.1:9/\", backoff: 10s, max_backoff: 1s}\n", 7, "actions.h.max_backoff", "at least backoff"},
		{"duplicate rule", base[:strings.Index(base, "actions:\n  j")] + "  - name: r\n    actions: [j]\nactions:\n  j: {type: log}\n", 5, "rules[1].name", "duplicate"},
		{"syntax error", base + "  k: [\n", 0, "", "invalid YAML"},
		{"alias", "rules: &a []\nactions: *a\n", 0, "", "aliases"},
		{"no rules", "actions:\n  j: {type: log}\n", 0, "rules", "at least one rule"},
		{"bad durable", base + "durable: kuma.alerts\n", 7, "durable", "does not allow in a consumer name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode("alerts.yaml", []byte(c.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			var errs config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T %v is not config.Errors", err, err)
			}
			for _, fe := range errs {
				if fe.Key == c.key && strings.Contains(fe.Msg, c.msg) && (c.line == 0 || fe.Line == c.line) {
					if fe.File != "alerts.yaml" {
						t.Errorf("file = %q", fe.File)
					}
					if c.line > 0 && !strings.HasPrefix(fe.Error(), "alerts.yaml:"+itoa(c.line)+": "+c.key+": ") {
						t.Errorf("message %q not FILE:LINE: key: msg", fe.Error())
					}
					return
				}
			}
			t.Errorf("want line %d key %q msg ~%q; got:\n%v", c.line, c.key, c.msg, err)
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	_, err := LoadConfig(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want not-exist", err)
	}
}

func FuzzLoadConfig(f *testing.F) {
	if b, err := os.ReadFile(exampleConfigPath()); err == nil {
		f.Add(b)
	}
	f.Add([]byte("rules: [{name: r, actions: [j]}]\nactions: {j: {type: log}}\n"))
	f.Add([]byte("actions: {h: {type: webhook, url: 'http://x', timeout: 1x}}"))
	f.Add([]byte("rules: &a [*a]"))
	f.Add([]byte("- 1\n- 2\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Decode("fuzz.yaml", data)
		if err == nil && (cfg == nil || len(cfg.Rules) == 0 || len(cfg.Actions) == 0) {
			t.Fatalf("accepted an unusable config: %+v", cfg)
		}
		if err != nil {
			_ = err.Error()
		}
	})
}
func itoa(i int) string { return strconv.Itoa(i) }

func TestDecodeCEFAction(t *testing.T) {
	cfg, err := Decode("a.yaml", []byte(`
rules: [{name: r, actions: [kuma, kuma-tls]}]
actions:
  kuma: {type: cef, address: "10.0.0.5:5140"}
  kuma-tls: {type: cef, address: "collector.example.com:6514", transport: tls, ca_file: /etc/kuma-agent/kuma-ca.pem, server_name: kuma}
`))
	if err != nil {
		t.Fatal(err)
	}
	k := cfg.Actions["kuma"]
	if k.Transport != "tcp" || k.Timeout != 5*time.Second || k.Retries != 3 || k.Backoff != time.Second || k.MaxBackoff != 30*time.Second {
		t.Errorf("cef defaults: %+v", k)
	}
	if k := cfg.Actions["kuma-tls"]; k.Transport != "tls" || k.CAFile != "/etc/kuma-agent/kuma-ca.pem" || k.ServerName != "kuma" {
		t.Errorf("kuma-tls: %+v", k)
	}
	for body, want := range map[string]string{
		`{type: cef}`:                                               "a.yaml:3: actions.k.address: is required",
		`{type: cef, address: "10.0.0.5"}`:                          `actions.k.address: "10.0.0.5" is not host:port`,
		`{type: cef, address: "10.0.0.5:0"}`:                        `is not host:port`,
		`{type: cef, address: "h:514", transport: http}`:            `actions.k.transport: "http" is not a transport (valid: tcp, tls, udp)`,
		`{type: cef, address: "h:514", ca_file: /ca.pem}`:           "actions.k.ca_file: applies to transport tls only",
		`{type: cef, address: "h:514", transport: tls, ca_file: x}`: `actions.k.ca_file: "x" must be an absolute path`,
		`{type: cef, address: "h:514", url: "http://x"}`:            "actions.k.url: does not apply to a cef action",
		`{type: cef, address: "h:514", retries: -1}`:                "actions.k.retries: must be between 0 and 100",
	} {
		_, err := Decode("a.yaml", []byte("rules: [{name: r, actions: [k]}]\nactions:\n  k: "+body+"\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", body, err, want)
		}
	}
}
