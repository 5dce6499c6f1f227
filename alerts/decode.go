package alerts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/kuma-agent/kuma-agent/config"
	"gopkg.in/yaml.v3"
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
	if hasAlias(&root, 0) {
		// Aliases buy nothing here and are the vector of alias bombs.
		return nil, config.Errors{{File: name, Line: root.Line, Msg: "YAML aliases (*name) are not allowed"}}
	}
	body := &root
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		body = root.Content[0]
	}
	if body.Kind != yaml.MappingNode {
		return nil, config.Errors{{File: name, Line: body.Line, Msg: "the top level must be a mapping (rules:, actions:)"}}
	}
	idx := indexKeys(body)

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
func applyDefaults(cfg *Config, idx keyIndex) {
	if _, ok := idx.byKey["queue_size"]; !ok {
		cfg.QueueSize = DefaultQueueSize
	}
	for name, a := range cfg.Actions {
		def, ok := actionDefaults[a.Type]
		if !ok {
			continue
		}
		p := "actions." + name + "."
		has := func(k string) bool { _, ok := idx.byKey[p+k]; return ok }
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

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
var valueRE = regexp.MustCompile("cannot unmarshal !!\\w+ `([^`]*)`")
var unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)

func syntaxError(name string, err error) *config.FieldError {
	msg := err.Error()
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &config.FieldError{File: name, Line: n, Msg: "invalid YAML: " + m[2]}
	}
	return &config.FieldError{File: name, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

func typeError(name, m string, idx keyIndex) *config.FieldError {
	fe := &config.FieldError{File: name, Msg: m}
	sm := lineRE.FindStringSubmatch(m)
	if sm == nil {
		return fe
	}
	fe.Line, _ = strconv.Atoi(sm[1])
	fe.Msg = sm[2]
	fe.Key = idx.keyOn(fe.Line, "", "")
	if um := unknownFieldRE.FindStringSubmatch(fe.Msg); um != nil {
		fe.Key = idx.keyOn(fe.Line, um[1], "")
		fe.Msg = "unknown key"
	} else if vm := valueRE.FindStringSubmatch(fe.Msg); vm != nil {
		fe.Key = idx.keyOn(fe.Line, "", vm[1])
	}
	return fe
}

// keyIndex maps a YAML line to the dotted key declared on it, and back.
// Sequence items are key[i]; map keys under actions are their names.
type keyIndex struct {
	byLine map[int][]lineKey // several in flow style: {a: 1, b: 2}
	byKey  map[string]int
}

type lineKey struct{ key, value string }

func (k keyIndex) line(key string) int { return k.byKey[key] }

// keyOn picks the key declared on line: the one named field, else the one
// whose scalar value is value, else the first.
func (k keyIndex) keyOn(line int, field, value string) string {
	keys := k.byLine[line]
	for _, lk := range keys {
		if field != "" && (lk.key == field || strings.HasSuffix(lk.key, "."+field)) {
			return lk.key
		}
		if field == "" && value != "" && lk.value == value {
			return lk.key
		}
	}
	if len(keys) > 0 {
		return keys[0].key
	}
	return ""
}

// maxDepth bounds recursion on hostile input; real configs are 5 deep.
const maxDepth = 32

func indexKeys(body *yaml.Node) keyIndex {
	idx := keyIndex{byLine: map[int][]lineKey{}, byKey: map[string]int{}}
	var walk func(n *yaml.Node, prefix string, depth int)
	walk = func(n *yaml.Node, prefix string, depth int) {
		if n == nil || depth > maxDepth {
			return
		}
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				key := k.Value
				if prefix != "" {
					key = prefix + "." + k.Value
				}
				idx.byLine[k.Line] = append(idx.byLine[k.Line], lineKey{key, scalar(v)})
				idx.byKey[key] = k.Line
				walk(v, key, depth+1)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				key := prefix + "[" + strconv.Itoa(i) + "]"
				idx.byLine[c.Line] = append(idx.byLine[c.Line], lineKey{key, scalar(c)})
				idx.byKey[key] = c.Line
				walk(c, key, depth+1)
			}
		}
	}
	walk(body, "", 0)
	return idx
}

func hasAlias(n *yaml.Node, depth int) bool {
	if n == nil || depth > maxDepth*4 {
		return false
	}
	if n.Kind == yaml.AliasNode {
		return true
	}
	for _, c := range n.Content {
		if hasAlias(c, depth+1) {
			return true
		}
	}
	return false
}

func scalar(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	return ""
}
