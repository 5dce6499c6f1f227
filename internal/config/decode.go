package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kuma-agent/kuma-agent/internal/yamlstrict"
)

// MaxFileSize bounds what Load reads: a config is a few KB, so anything
// larger is a mistake (a log file passed by accident) or an attack.
const MaxFileSize = 1 << 20

// FieldError is one problem in a config file, located as precisely as the
// YAML allows.
type FieldError struct {
	File string
	Line int    // 0 when unknown (e.g. a default value is bad)
	Key  string // dotted path, e.g. checks.ntp.warn_offset
	Msg  string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one file; decoding does not stop at the
// first so the operator fixes them in one go.
type Errors []*FieldError

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Load reads and decodes the config at path over Default().
func Load(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return Config{}, fmt.Errorf("config %s: larger than %d bytes; is this the right file?", path, MaxFileSize)
	}
	return Decode(path, data)
}

// Decode parses data (named name in errors) strictly over Default(): an
// unknown key, a wrong type or a bad value is an error naming line and key.
func Decode(name string, data []byte) (Config, error) {
	cfg := Default()
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return cfg, cfg.validate(name, nil) // empty file: all defaults
		}
		return Config{}, Errors{syntaxError(name, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return Config{}, Errors{{File: name, Line: extra.Line, Msg: "more than one YAML document; agent.yaml holds exactly one"}}
	}
	if root.Kind == 0 || (root.Kind == yaml.DocumentNode && len(root.Content) == 0) {
		return cfg, cfg.validate(name, nil)
	}
	idx := indexKeys(&root)
	if top := yamlstrict.Body(&root); top != nil && top.Kind != yaml.MappingNode {
		if top.Tag == "!!null" {
			return cfg, cfg.validate(name, &idx)
		}
		return Config{}, Errors{{File: name, Line: top.Line, Msg: "the top level must be a mapping of keys (node_name:, checks:, ...)"}}
	}
	if line, found := yamlstrict.FirstAlias(&root); found {
		// Aliases buy nothing in a config and are the vector of alias bombs.
		return Config{}, Errors{{File: name, Line: line, Msg: "YAML aliases (*name) are not allowed in agent.yaml"}}
	}

	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(&cfg); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return Config{}, Errors{syntaxError(name, err)}
		}
		var out Errors
		for _, m := range te.Errors {
			out = append(out, typeError(name, m, idx))
		}
		return Config{}, out
	}
	return cfg, cfg.validate(name, &idx)
}

func syntaxError(name string, err error) *FieldError {
	line, msg := yamlstrict.SyntaxError(err)
	return &FieldError{File: name, Line: line, Msg: msg}
}

// typeError turns one of yaml.v3's "line N: ..." messages into a FieldError
// with the dotted key, and lists the valid keys for an unknown one.
func typeError(name, m string, idx keyIndex) *FieldError {
	fe := &FieldError{File: name, Msg: m}
	line, rest, ok := yamlstrict.SplitLine(m)
	if !ok {
		return fe
	}
	fe.Line, fe.Msg = line, rest
	fe.Key = idx.keyAt(fe.Line)
	if _, unknown := yamlstrict.UnknownField(fe.Msg); unknown {
		parent := fe.Key
		if i := strings.LastIndex(parent, "."); i >= 0 {
			parent = parent[:i]
		} else {
			parent = ""
		}
		fe.Msg = "unknown key"
		if valid := validKeys(parent); len(valid) > 0 {
			fe.Msg += " (valid here: " + strings.Join(valid, ", ") + ")"
		}
	}
	return fe
}

// keyIndex maps a YAML line to the dotted key declared on it, and back.
type keyIndex struct{ yamlstrict.Index }

func (k keyIndex) keyAt(line int) string { return k.KeyAt(line) }

func (k keyIndex) lineOf(key string) int { return k.Line(key) }

func indexKeys(root *yaml.Node) keyIndex { return keyIndex{yamlstrict.IndexKeys(root)} }

// validKeys lists the yaml keys of the struct at dotted path (empty = top).
func validKeys(path string) []string {
	t := reflect.TypeOf(Config{})
	if path != "" {
		for _, part := range strings.Split(path, ".") {
			f, ok := fieldByTag(t, part)
			if !ok {
				return nil
			}
			t = f.Type
		}
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for i := range t.NumField() {
		if tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]; tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	slices.Sort(keys)
	return keys
}

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	if t.Kind() != reflect.Struct {
		return reflect.StructField{}, false
	}
	for i := range t.NumField() {
		if strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0] == tag {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}
