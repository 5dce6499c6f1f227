package config

import (
	"github.com/kuma-agent/kuma-agent/internal/yamlstrict"
)

// MaxFileSize bounds what Load reads: a config is a few KB, so anything
// larger is a mistake (a log file passed by accident) or an attack.
const MaxFileSize = yamlstrict.DefaultMaxBytes

// FieldError is one problem in a config file, located as precisely as the
// YAML allows: the pipeline's one error type.
type FieldError = yamlstrict.Error

// Errors is every problem found in one file; decoding does not stop at the
// first so the operator fixes them in one go.
type Errors = yamlstrict.Errors

// file is what agent.yaml may hold: one document, no aliases, known keys.
var agentFile = yamlstrict.Options{Kind: "config", MaxBytes: MaxFileSize, TopLevel: "keys (node_name:, checks:, ...)"}

// Load reads and decodes the config at path over Default().
func Load(path string) (Config, error) {
	data, err := agentFile.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	return Decode(path, data)
}

// Decode parses data (named name in errors) strictly over Default(): an
// unknown key, a wrong type or a bad value is an error naming line and key.
// An empty file is all defaults.
func Decode(name string, data []byte) (Config, error) {
	doc, err := agentFile.Parse(name, data)
	if err != nil {
		return Config{}, err
	}
	cfg := Default()
	if err := doc.Decode(&cfg); err != nil {
		return Config{}, err
	}
	return cfg, cfg.validate(name, doc.Index())
}
