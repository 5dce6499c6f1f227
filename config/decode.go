package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
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
	if top := docBody(&root); top != nil && top.Kind != yaml.MappingNode {
		if top.Tag == "!!null" {
			return cfg, cfg.validate(name, &idx)
		}
		return Config{}, Errors{{File: name, Line: top.Line, Msg: "the top level must be a mapping of keys (node_name:, checks:, ...)"}}
	}
	if aliases(&root) > 0 {
		// Aliases buy nothing in a config and are the vector of alias bombs.
		return Config{}, Errors{{File: name, Line: firstAliasLine(&root), Msg: "YAML aliases (*name) are not allowed in agent.yaml"}}
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

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
var unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)

func syntaxError(name string, err error) *FieldError {
	msg := err.Error()
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &FieldError{File: name, Line: n, Msg: "invalid YAML: " + m[2]}
	}
	return &FieldError{File: name, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// typeError turns one of yaml.v3's "line N: ..." messages into a FieldError
// with the dotted key, and lists the valid keys for an unknown one.
func typeError(name, m string, idx keyIndex) *FieldError {
	fe := &FieldError{File: name, Msg: m}
	sm := lineRE.FindStringSubmatch(m)
	if sm == nil {
		return fe
	}
	fe.Line, _ = strconv.Atoi(sm[1])
	fe.Msg = sm[2]
	fe.Key = idx.keyAt(fe.Line)
	if um := unknownFieldRE.FindStringSubmatch(fe.Msg); um != nil {
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
type keyIndex struct {
	byLine map[int]string
	byKey  map[string]int
}

func (k keyIndex) keyAt(line int) string { return k.byLine[line] }

func (k keyIndex) lineOf(key string) int {
	if k.byKey == nil {
		return 0
	}
	return k.byKey[key]
}

func docBody(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		return n.Content[0]
	}
	return n
}

func indexKeys(root *yaml.Node) keyIndex {
	idx := keyIndex{byLine: map[int]string{}, byKey: map[string]int{}}
	var walk func(n *yaml.Node, prefix string, depth int)
	walk = func(n *yaml.Node, prefix string, depth int) {
		if n == nil || depth > 32 {
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
				if _, seen := idx.byLine[k.Line]; !seen {
					idx.byLine[k.Line] = key
				}
				idx.byKey[key] = k.Line
				walk(v, key, depth+1)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				key := prefix + "[" + strconv.Itoa(i) + "]"
				if _, seen := idx.byLine[c.Line]; !seen {
					idx.byLine[c.Line] = key
				}
				idx.byKey[key] = c.Line
				walk(c, key, depth+1)
			}
		}
	}
	walk(docBody(root), "", 0)
	return idx
}

func aliases(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	c := 0
	if n.Kind == yaml.AliasNode {
		c++
	}
	for _, ch := range n.Content {
		c += aliases(ch)
	}
	return c
}

func firstAliasLine(n *yaml.Node) int {
	if n.Kind == yaml.AliasNode {
		return n.Line
	}
	for _, ch := range n.Content {
		if l := firstAliasLine(ch); l > 0 {
			return l
		}
	}
	return 0
}

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
