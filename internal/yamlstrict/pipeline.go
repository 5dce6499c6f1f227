package yamlstrict

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Defaults of Options.
const (
	// DefaultMaxBytes: a config file is a few KB; anything near 1 MiB is a
	// wrong file (a log passed by accident) or an attack.
	DefaultMaxBytes = 1 << 20
	// DefaultMaxNodes bounds the node tree yaml.v3 builds (about 150 bytes
	// a node), estimated from the text before parsing.
	DefaultMaxNodes = 1 << 19
)

// Options are the rules of one kind of file; the pipeline is
// ReadFile (size cap, regular files only) -> Parse (one document, node
// budget, aliases, depth, top-level mapping) -> Doc.Decode (known fields
// only, every type error located). The zero value is a strict config file.
type Options struct {
	// Kind names the kind of file in messages: "config", "inventory".
	Kind string
	// MaxBytes is the largest file accepted; 0 means DefaultMaxBytes.
	MaxBytes int64
	// MaxNodes bounds the estimated node count; 0 means DefaultMaxNodes.
	MaxNodes int
	// MaxDepth bounds the nesting of mappings and lists; 0 means MaxDepth.
	MaxDepth int
	// TopLevel says what the top-level mapping holds, for the message when
	// it is something else: "groups (all, kuma, kuma_k0s)".
	TopLevel string
	// Aliases, when set, allows anchors and aliases (*name), bounded by a
	// walk that follows them through Doc.Resolve; nil refuses aliases (they
	// buy nothing in a config file and are the vector of alias bombs).
	Aliases *AliasBudget
	// Open opens a file for ReadFile; nil means the local filesystem,
	// regular files only.
	Open func(name string) (io.ReadCloser, error)
}

// AliasBudget bounds a walk that expands aliases (a billion-laughs document
// is small as text and as a node tree; only the walk blows up).
type AliasBudget struct {
	MaxAliases int // alias hops followed in the whole walk
	MaxVisits  int // nodes visited, aliases expanded
}

func (o Options) kind() string {
	if o.Kind == "" {
		return "YAML"
	}
	return o.Kind
}

func (o Options) maxBytes() int64 {
	if o.MaxBytes > 0 {
		return o.MaxBytes
	}
	return DefaultMaxBytes
}

func (o Options) maxNodes() int {
	if o.MaxNodes > 0 {
		return o.MaxNodes
	}
	return DefaultMaxNodes
}

func (o Options) maxDepth() int {
	if o.MaxDepth > 0 {
		return o.MaxDepth
	}
	return MaxDepth
}

// Doc is one parsed file that passed Parse's checks.
type Doc struct {
	File string
	Data []byte
	// Body is the top-level mapping; nil for a file without content
	// (nothing, only comments, "---", "~").
	Body *yaml.Node

	opt     Options
	idx     *Index
	aliases int
	visits  int
}

// Parse checks data (named name in errors) as one document of this kind:
// size, estimated nodes, syntax, a single document, aliases, depth, and a
// mapping (or nothing) at the top. Every refusal is an Errors.
func (o Options) Parse(name string, data []byte) (*Doc, error) {
	if err := o.CheckSize(name, len(data)); err != nil {
		return nil, err
	}
	if n := estimateNodes(data); n > o.maxNodes() {
		return nil, Errors{{File: name, Err: ErrBudget,
			Msg: "too big: about " + strconv.Itoa(n) + " YAML nodes, more than " + o.kind() + " files plausibly need"}}
	}
	doc := &Doc{File: name, Data: data, opt: o}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); errors.Is(err, io.EOF) {
		return doc, nil
	} else if err != nil {
		return nil, Errors{syntaxError(name, data, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Errorf(name, extra.Line, "", "more than one YAML document; the file must hold exactly one")
	} else if !errors.Is(err, io.EOF) {
		return nil, Errors{syntaxError(name, data, err)}
	}
	if o.Aliases == nil {
		if line, found := FirstAlias(&root); found {
			return nil, Errorf(name, line, "", "YAML aliases (*name) are not allowed in %s files", o.kind())
		}
	}
	if n := deeper(&root, o.maxDepth()); n != nil {
		return nil, doc.TooDeep(n, "")
	}
	body := Body(&root)
	if body == nil || body.Kind == yaml.ScalarNode && body.ShortTag() == "!!null" {
		return doc, nil
	}
	if body.Kind != yaml.MappingNode {
		top := o.TopLevel
		if top == "" {
			top = "keys"
		}
		return nil, Errorf(name, body.Line, "", "the top level must be a mapping of %s, got a %s", top, KindName(body))
	}
	doc.Body = body
	return doc, nil
}

// Index is the key index of the document (built on first use).
func (d *Doc) Index() Index {
	if d.idx == nil {
		idx := IndexKeys(d.Body)
		d.idx = &idx
	}
	return *d.idx
}

// Decode decodes the document into v (a pointer; fields already set are
// defaults the file overrides) with known fields only: an unknown key, a
// wrong type or a bad value is an Errors naming line and key, all of them
// together. An empty document leaves v as it is.
func (d *Doc) Decode(v any) error {
	if d.Body == nil {
		return nil
	}
	floats := d.floatsForInts(v)
	dec := yaml.NewDecoder(bytes.NewReader(d.Data))
	dec.KnownFields(true)
	err := dec.Decode(v)
	if err == nil {
		if len(floats) > 0 {
			return floats
		}
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return Errors{syntaxError(d.File, d.Data, err)}
	}
	out := make(Errors, 0, len(te.Errors)+len(floats))
	for _, m := range te.Errors {
		out = append(out, d.typeError(m, v))
	}
	out = append(out, floats...)
	slices.SortStableFunc(out, func(a, b *Error) int { return a.Line - b.Line })
	return out
}

// Resolve follows an alias (a walk over an Options.Aliases document calls
// it on every node it visits), counting the hops and visits against the
// budget.
func (d *Doc) Resolve(n *yaml.Node) (*yaml.Node, error) {
	b := d.opt.Aliases
	if b == nil {
		b = &AliasBudget{}
	}
	for hops := 0; n.Kind == yaml.AliasNode; hops++ {
		d.aliases++
		if d.aliases > b.MaxAliases || hops > d.opt.maxDepth() || n.Alias == nil {
			return nil, d.budget(n.Line, "", "more than "+strconv.Itoa(b.MaxAliases)+" aliases")
		}
		n = n.Alias
	}
	d.visits++
	if b.MaxVisits > 0 && d.visits > b.MaxVisits {
		return nil, d.budget(n.Line, "", "the document expands to more than "+strconv.Itoa(b.MaxVisits)+" nodes")
	}
	return n, nil
}

// TooDeep is the refusal of n, nested deeper than Options.MaxDepth (under
// key, if known).
func (d *Doc) TooDeep(n *yaml.Node, key string) error {
	return d.budget(n.Line, key, "nested more than "+strconv.Itoa(d.opt.maxDepth())+" levels")
}

func (d *Doc) budget(line int, key, why string) error {
	return Errors{{File: d.File, Line: line, Key: key, Err: ErrBudget, Msg: ErrBudget.Error() + ": " + why}}
}

// deeper is the first node nested more than max mappings and lists deep,
// nil if none. Aliases are not followed (that is Resolve's budget).
func deeper(n *yaml.Node, max int) *yaml.Node {
	var walk func(n *yaml.Node, depth int) *yaml.Node
	walk = func(n *yaml.Node, depth int) *yaml.Node {
		if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
			if depth++; depth > max {
				return n
			}
		}
		for _, c := range n.Content {
			if d := walk(c, depth); d != nil {
				return d
			}
		}
		return nil
	}
	return walk(n, 0)
}

// estimateNodes over-counts the nodes yaml.v3 would build from data: every
// node after the first needs a line break, a flow separator, a key colon
// or a list dash before it.
func estimateNodes(data []byte) int {
	n := 1
	for i, c := range data {
		switch c {
		case '\n', ',', '[', '{':
			n++
		case ':', '-':
			if i+1 == len(data) || data[i+1] == ' ' || data[i+1] == '\n' || data[i+1] == '\t' || data[i+1] == '\r' {
				n += 2 // a key and its value, or an entry
			}
		}
	}
	return n
}

// KindName names a node's kind for messages: "list", "scalar".
func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		return "scalar"
	case yaml.SequenceNode:
		return "list"
	case yaml.MappingNode:
		return "mapping"
	case yaml.AliasNode:
		return "alias"
	case yaml.DocumentNode:
		return "document"
	}
	return "empty value"
}
