package alerts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"

	"gopkg.in/yaml.v3"

	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/yamlstrict"
)

// LoadConfig reads and strictly decodes the alerts config at path.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("alerts config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, config.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("alerts config %s: %w", path, err)
	}
	if len(data) > config.MaxFileSize {
		return nil, fmt.Errorf("alerts config %s: larger than %d bytes; is this the right file?", path, config.MaxFileSize)
	}
	return Decode(path, data)
}

// Decode parses data (named name in errors) strictly: an unknown key, a
// wrong type or a bad value is a config.FieldError naming line and key, and
// all problems are returned together as config.Errors.
func Decode(name string, data []byte) (*Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, config.Errors{{File: name, Msg: "empty file: at least one rule and one action are needed"}}
		}
		return nil, config.Errors{syntaxError(name, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, config.Errors{{File: name, Line: extra.Line, Msg: "more than one YAML document"}}
	}
	if line, found := yamlstrict.FirstAlias(&root); found {
		// Aliases buy nothing here and are the vector of alias bombs.
		return nil, config.Errors{{File: name, Line: line, Msg: "YAML aliases (*name) are not allowed"}}
	}
	body := yamlstrict.Body(&root)
	if body == nil {
		body = &root
	}
	if body.Kind != yaml.MappingNode {
		return nil, config.Errors{{File: name, Line: body.Line, Msg: "the top level must be a mapping (rules:, actions:)"}}
	}
	idx := yamlstrict.IndexKeys(body)

	var cfg Config
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(&cfg); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, config.Errors{syntaxError(name, err)}
		}
		var out config.Errors
		for _, m := range te.Errors {
			out = append(out, typeError(name, m, idx))
		}
		return nil, out
	}
	applyDefaults(&cfg, idx)
	if errs := validate(name, &cfg, idx); len(errs) > 0 {
		return nil, errs
	}
	return &cfg, nil
}

// applyDefaults fills keys the file leaves out; presence is judged from the
// YAML, so an explicit `retries: 0` stays 0.
func applyDefaults(cfg *Config, idx yamlstrict.Index) {
	if !idx.Has("queue_size") {
		cfg.QueueSize = DefaultQueueSize
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
		cfg.Actions[name] = a
	}
}

func syntaxError(name string, err error) *config.FieldError {
	line, msg := yamlstrict.SyntaxError(err)
	return &config.FieldError{File: name, Line: line, Msg: msg}
}

var valueRE = regexp.MustCompile("cannot unmarshal !!\\w+ `([^`]*)`")

func typeError(name, m string, idx yamlstrict.Index) *config.FieldError {
	fe := &config.FieldError{File: name, Msg: m}
	line, rest, ok := yamlstrict.SplitLine(m)
	if !ok {
		return fe
	}
	fe.Line, fe.Msg = line, rest
	fe.Key = idx.KeyOn(fe.Line, "", "")
	if field, unknown := yamlstrict.UnknownField(fe.Msg); unknown {
		fe.Key = idx.KeyOn(fe.Line, field, "")
		fe.Msg = "unknown key"
	} else if vm := valueRE.FindStringSubmatch(fe.Msg); vm != nil {
		fe.Key = idx.KeyOn(fe.Line, "", vm[1])
	}
	return fe
}
