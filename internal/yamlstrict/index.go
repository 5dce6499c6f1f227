// Package yamlstrict is the one strict-YAML pipeline of config (agent.yaml),
// alerts (alerts.yaml) and inventory (Ansible YAML inventories), with the one
// error type they all return (error.go: Error, printed FILE:LINE: KEY: MSG,
// and Errors). Options (pipeline.go) say what a kind of file may hold;
// ReadFile (read.go) reads it size-capped and refuses anything but a
// regular file; Parse checks one document (node estimate, syntax with the
// culprit line, a single document, aliases refused or budgeted, depth,
// top-level mapping); Doc.Decode decodes it with known fields only, every
// type error located through the key index (index.go) and yaml.v3's
// messages (message.go).
package yamlstrict

import (
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxDepth bounds the index walk on hostile input; real files are a handful
// of levels deep.
const MaxDepth = 32

// Index maps a YAML line to the dotted key paths declared on it, and a path
// back to its line. Mapping keys are joined with dots (checks.ntp.timeout),
// sequence items are path[i].
type Index struct {
	byLine map[int][]key // several in flow style: {a: 1, b: 2}
	byKey  map[string]int
}

// key is one path declared on a line and its scalar value ("" if none).
type key struct{ path, value string }

// Body is the content of a document node, or n itself if n is no document
// (nil for an empty document).
func Body(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		return n.Content[0]
	}
	return n
}

// IndexKeys indexes every key under root (a document or its body), down to
// MaxDepth.
func IndexKeys(root *yaml.Node) Index {
	idx := Index{byLine: map[int][]key{}, byKey: map[string]int{}}
	var walk func(n *yaml.Node, prefix string, depth int)
	walk = func(n *yaml.Node, prefix string, depth int) {
		if n == nil || depth > MaxDepth {
			return
		}
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				path := k.Value
				if prefix != "" {
					path = prefix + "." + k.Value
				}
				idx.byLine[k.Line] = append(idx.byLine[k.Line], key{path, scalar(v)})
				idx.byKey[path] = k.Line
				walk(v, path, depth+1)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				path := prefix + "[" + strconv.Itoa(i) + "]"
				idx.byLine[c.Line] = append(idx.byLine[c.Line], key{path, scalar(c)})
				idx.byKey[path] = c.Line
				walk(c, path, depth+1)
			}
		}
	}
	walk(Body(root), "", 0)
	return idx
}

// KeyAt is the first path declared on line, "" if none.
func (x Index) KeyAt(line int) string {
	if keys := x.byLine[line]; len(keys) > 0 {
		return keys[0].path
	}
	return ""
}

// KeyOn picks the path declared on line: the one whose last element is
// field, else the one whose scalar value is value, else the first.
func (x Index) KeyOn(line int, field, value string) string {
	for _, k := range x.byLine[line] {
		if field != "" && (k.path == field || strings.HasSuffix(k.path, "."+field)) {
			return k.path
		}
		if field == "" && value != "" && k.value == value {
			return k.path
		}
	}
	return x.KeyAt(line)
}

// Line is where path is declared, 0 if it is not in the file.
func (x Index) Line(path string) int { return x.byKey[path] }

// Near is where path is declared or else its nearest declared parent
// (a required key the file leaves out is reported at its parent), 0 if
// none is in the file.
func (x Index) Near(path string) int {
	for {
		if line, ok := x.byKey[path]; ok {
			return line
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return 0
		}
		path = path[:i]
	}
}

// Has reports whether the file declares path.
func (x Index) Has(path string) bool {
	_, ok := x.byKey[path]
	return ok
}

// Paths is every indexed path, in no particular order.
func (x Index) Paths() []string {
	out := make([]string, 0, len(x.byKey))
	for p := range x.byKey {
		out = append(out, p)
	}
	return out
}

func scalar(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	return ""
}
