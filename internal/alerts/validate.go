package alerts

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/natsbus"
	"github.com/kuma-agent/kuma-agent/internal/yamlstrict"
)

// Limits on values: generous, but they stop a typo (retries: 10000) from
// turning into a retry storm.
const (
	maxRetries   = 100
	maxQueueSize = 1 << 20
)

var severities = []string{string(events.SeverityInfo), string(events.SeverityWarning), string(events.SeverityCritical)}

// validate reports every semantic problem in cfg, located via idx.
// An absent key (a required one) is reported at its parent's line.
func validate(name string, cfg *Config, idx yamlstrict.Index) error {
	var errs yamlstrict.Errors
	add := func(key, format string, args ...any) {
		errs.Add(name, idx.Near(key), key, format, args...)
	}

	if cfg.QueueSize < 1 || cfg.QueueSize > maxQueueSize {
		add("queue_size", "must be between 1 and %d", maxQueueSize)
	}
	if cfg.Durable != "" {
		if err := natsbus.ValidDurableName(cfg.Durable); err != nil {
			add("durable", "%v", err)
		}
	}
	if len(cfg.Rules) == 0 {
		add("rules", "at least one rule is needed")
	}
	if len(cfg.Actions) == 0 {
		add("actions", "at least one action is needed")
	}

	names := make([]string, 0, len(cfg.Actions))
	for n := range cfg.Actions {
		names = append(names, n)
	}
	sort.Strings(names) // stable error order
	for _, n := range names {
		validateAction(n, cfg.Actions[n], idx, add)
	}

	seen := map[string]bool{}
	for i, r := range cfg.Rules {
		p := "rules[" + strconv.Itoa(i) + "]"
		switch {
		case r.Name == "":
			add(p+".name", "is required")
		case seen[r.Name]:
			add(p+".name", "duplicate rule name %q", r.Name)
		}
		seen[r.Name] = true
		if len(r.Actions) == 0 {
			add(p+".actions", "at least one action is needed")
		}
		for j, a := range r.Actions {
			if _, ok := cfg.Actions[a]; !ok {
				add(fmt.Sprintf("%s.actions[%d]", p, j), "action %q is not defined under actions: (defined: %s)", a, strings.Join(names, ", "))
			}
		}
		validateMatch(p+".match", r.Match, add)
	}
	return errs.Err()
}

func validateAction(n string, a Action, idx yamlstrict.Index, add func(key, format string, args ...any)) {
	p := "actions." + n
	allowed, ok := actionKeys[a.Type]
	if !ok {
		add(p+".type", "%q is not an action type (valid: cef, command, log, syslog, webhook)", a.Type)
		return
	}
	// Keys that do not apply to this type are mistakes, not decoration.
	for _, key := range idx.Paths() {
		rest, ok := strings.CutPrefix(key, p+".")
		if !ok || strings.ContainsAny(rest, ".[") {
			continue
		}
		if !slices.Contains(allowed, rest) {
			add(key, "does not apply to a %s action (valid: %s)", a.Type, strings.Join(allowed, ", "))
		}
	}
	if a.Timeout < 0 {
		add(p+".timeout", "must not be negative")
	}
	switch a.Type {
	case ActionWebhook:
		u, err := url.Parse(a.URL)
		if a.URL == "" {
			add(p+".url", "is required")
		} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add(p+".url", "%q is not an http(s) URL", a.URL)
		}
		validateRetries(p, a, add)
		for h := range a.Headers {
			if h == "" || strings.ContainsAny(h, " :\r\n") {
				add(p+".headers", "%q is not a header name", h)
			}
		}
	case ActionCEF:
		if a.Address == "" {
			add(p+".address", "is required: the collector's host:port")
		} else if host, port, err := net.SplitHostPort(a.Address); err != nil || host == "" || !validPort(port) {
			add(p+".address", "%q is not host:port", a.Address)
		}
		if !slices.Contains(cefTransports, a.Transport) {
			add(p+".transport", "%q is not a transport (valid: %s)", a.Transport, strings.Join(cefTransports, ", "))
		}
		if a.Transport != "tls" {
			for _, k := range []string{"ca_file", "server_name"} {
				if idx.Has(p + "." + k) {
					add(p+"."+k, "applies to transport tls only")
				}
			}
		}
		if a.CAFile != "" && !filepath.IsAbs(a.CAFile) {
			add(p+".ca_file", "%q must be an absolute path", a.CAFile)
		}
		validateRetries(p, a, add)
	case ActionCommand:
		switch {
		case len(a.Command) == 0 || a.Command[0] == "":
			add(p+".command", "is required: [/path/to/program, args...]")
		case !filepath.IsAbs(a.Command[0]):
			// No PATH lookup: what runs must be what the file says.
			add(p+".command", "%q must be an absolute path", a.Command[0])
		}
	}
}

// validateRetries checks the retry keys of an action that retries.
func validateRetries(p string, a Action, add func(key, format string, args ...any)) {
	if a.Retries < 0 || a.Retries > maxRetries {
		add(p+".retries", "must be between 0 and %d", maxRetries)
	}
	if a.Backoff <= 0 {
		add(p+".backoff", "must be positive")
	}
	if a.MaxBackoff < a.Backoff {
		add(p+".max_backoff", "must be at least backoff (%s)", a.Backoff)
	}
}

// validPort is a TCP/UDP port number, 1-65535.
func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535
}

func validateMatch(p string, m Match, add func(key, format string, args ...any)) {
	lists := []struct {
		key   string
		globs []string
		known []string // non-glob values must be one of these; nil = free
	}{
		{"types", m.Types, typeNames()},
		{"severity", m.Severity, severities},
		{"nodes", m.Nodes, nil},
	}
	for _, l := range lists {
		for i, g := range l.globs {
			key := fmt.Sprintf("%s.%s[%d]", p, l.key, i)
			if _, err := path.Match(g, ""); err != nil || g == "" {
				add(key, "%q is not a valid glob", g)
				continue
			}
			if l.known == nil {
				continue
			}
			if !slices.ContainsFunc(l.known, func(k string) bool { ok, _ := path.Match(g, k); return ok }) {
				add(key, "%q matches none of: %s", g, strings.Join(l.known, ", "))
			}
		}
	}
}

func typeNames() []string {
	s := make([]string, len(events.Types))
	for i, t := range events.Types {
		s[i] = string(t)
	}
	return s
}
