package alerts

import (
	"github.com/kuma-agent/kuma-agent/internal/yamlstrict"
)

// configFile is what alerts.yaml may hold: one document, no aliases, known
// keys, as agent.yaml.
var configFile = yamlstrict.Options{Kind: "alerts config", MaxBytes: yamlstrict.DefaultMaxBytes, TopLevel: "rules: and actions:"}

// LoadConfig reads and strictly decodes the alerts config at path.
func LoadConfig(path string) (*Config, error) {
	data, err := configFile.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Decode(path, data)
}

// Decode parses data (named name in errors) strictly: an unknown key, a
// wrong type or a bad value is a yamlstrict.Error naming line and key, and
// all problems are returned together as yamlstrict.Errors.
func Decode(name string, data []byte) (*Config, error) {
	doc, err := configFile.Parse(name, data)
	if err != nil {
		return nil, err
	}
	if doc.Body == nil {
		return nil, yamlstrict.Errorf(name, 0, "", "empty file: at least one rule and one action are needed")
	}
	var cfg Config
	if err := doc.Decode(&cfg); err != nil {
		return nil, err
	}
	idx := doc.Index()
	applyDefaults(&cfg, idx)
	if err := validate(name, &cfg, idx); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// applyDefaults fills keys the file leaves out; presence is judged from the
// YAML, so an explicit `retries: 0` stays 0.
func applyDefaults(cfg *Config, idx yamlstrict.Index) {
	if !idx.Has("queue_size") {
		cfg.QueueSize = DefaultQueueSize
	}
	if !idx.Has("live") {
		cfg.Live = true
	}
	for name, a := range cfg.Actions {
		def, ok := actionDefaults[a.Type]
		if !ok {
			continue
		}
		p := "actions." + name + "."
		has := func(k string) bool { return idx.Has(p + k) }
		if !has("timeout") {
			a.Timeout = def.Timeout
		}
		if !has("retries") {
			a.Retries = def.Retries
		}
		if !has("backoff") {
			a.Backoff = def.Backoff
		}
		if !has("max_backoff") {
			a.MaxBackoff = def.MaxBackoff
		}
		if !has("tag") {
			a.Tag = def.Tag
		}
		if !has("transport") {
			a.Transport = def.Transport
		}
		cfg.Actions[name] = a
	}
}
