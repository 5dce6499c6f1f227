package yamlstrict

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var (
	lineRE         = regexp.MustCompile(`^(?:yaml: )?line (\d+): (?s)(.*)$`)
	unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type (.+)$`)
	valueRE        = regexp.MustCompile("cannot unmarshal !!\\w+ `([^`]*)`")
)

// SplitLine splits one of yaml.v3's "[yaml: ]line N: message" texts into N
// and the message; ok is false for a text without a line.
func SplitLine(msg string) (line int, rest string, ok bool) {
	m := lineRE.FindStringSubmatch(msg)
	if m == nil {
		return 0, msg, false
	}
	n, _ := strconv.Atoi(m[1])
	return n, m[2], true
}

// UnknownField is the key yaml.v3 named in a KnownFields(true) complaint
// ("field X not found in type T"), ok false for other messages.
func UnknownField(msg string) (field string, ok bool) {
	if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
		return m[1], true
	}
	return "", false
}

// maxBisect bounds the size of a document whose error line is pinned down
// by re-parsing prefixes (a few dozen parses at most).
const maxBisect = 256 << 10

// syntaxError locates a parse error of data: "invalid YAML: ..." at its
// line (0 if yaml.v3 gave none). yaml.v3 names the line where the enclosing
// block starts, which for bad indentation is lines above the culprit; the
// first line whose inclusion makes the text unparsable is what an operator
// needs to fix.
func syntaxError(file string, data []byte, err error) *Error {
	n, rest, ok := SplitLine(err.Error())
	if !ok {
		return &Error{File: file, Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: "), Err: err}
	}
	msg := "invalid YAML: " + rest
	if bad := firstBadLine(data, n); bad > n {
		msg += " (in the block that starts at line " + strconv.Itoa(n) + ")"
		n = bad
	}
	return &Error{File: file, Line: n, Msg: msg, Err: err}
}

// firstBadLine finds, by bisection from line from on, the smallest k such
// that the first k lines do not parse; 0 when it cannot tell.
func firstBadLine(data []byte, from int) int {
	if len(data) > maxBisect || from < 1 {
		return 0
	}
	ends := []int{} // ends[i] is the byte offset after line i+1
	for i, c := range data {
		if c == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] != len(data) {
		ends = append(ends, len(data))
	}
	fails := func(k int) bool {
		dec := yaml.NewDecoder(bytes.NewReader(data[:ends[k-1]]))
		for {
			var n yaml.Node
			if err := dec.Decode(&n); err != nil {
				return !errors.Is(err, io.EOF)
			}
		}
	}
	lo, hi := from, len(ends)
	if lo > hi || !fails(hi) {
		return 0
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// typeError turns one of yaml.v3's "line N: ..." decoding complaints into
// an Error with the dotted key it is about; an unknown key lists the valid
// keys at its place in v's type.
func (d *Doc) typeError(m string, v any) *Error {
	e := &Error{File: d.File, Msg: m}
	line, rest, ok := SplitLine(m)
	if !ok {
		return e
	}
	idx := d.Index()
	e.Line, e.Msg = line, rest
	e.Key = idx.KeyOn(line, "", "")
	if field, unknown := UnknownField(rest); unknown {
		e.Key = idx.KeyOn(line, field, "")
		e.Msg = "unknown key"
		parent := ""
		if i := strings.LastIndexByte(e.Key, '.'); i >= 0 {
			parent = e.Key[:i]
		}
		if valid := ValidKeys(reflect.TypeOf(v), parent); len(valid) > 0 {
			e.Msg += " (valid here: " + strings.Join(valid, ", ") + ")"
		}
	} else if vm := valueRE.FindStringSubmatch(rest); vm != nil {
		e.Key = idx.KeyOn(line, "", vm[1])
	}
	return e
}

// ValidKeys lists, sorted, the YAML keys of the struct found at the dotted
// path (empty: the top) in t, through pointers, lists (path[i]) and maps
// (a path element per map key); nil if path leads to no struct.
func ValidKeys(t reflect.Type, path string) []string {
	t = deref(t)
	if path != "" {
		for _, part := range strings.Split(path, ".") {
			name, _, _ := strings.Cut(part, "[")
			switch {
			case t.Kind() == reflect.Map:
				t = deref(t.Elem())
			case t.Kind() == reflect.Struct:
				f, ok := fieldByKey(t, name)
				if !ok {
					return nil
				}
				t = deref(f.Type)
			default:
				return nil
			}
			for range strings.Count(part, "[") {
				if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
					return nil
				}
				t = deref(t.Elem())
			}
		}
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	eachKey(t, func(key string, _ reflect.StructField) bool {
		keys = append(keys, key)
		return true
	})
	slices.Sort(keys)
	return keys
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func fieldByKey(t reflect.Type, key string) (found reflect.StructField, ok bool) {
	eachKey(t, func(k string, f reflect.StructField) bool {
		if k == key {
			found, ok = f, true
		}
		return !ok
	})
	return found, ok
}

// eachKey calls fn with each YAML key of struct t as yaml.v3 names them (tag
// or lower-cased field name, ",inline" structs flattened) until fn is false.
func eachKey(t reflect.Type, fn func(key string, f reflect.StructField) bool) bool {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous { // yaml.v3 inlines unexported embedded structs
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, flags, _ := strings.Cut(tag, ",")
		if slices.Contains(strings.Split(flags, ","), "inline") {
			if ft := deref(f.Type); ft.Kind() == reflect.Struct && !eachKey(ft, fn) {
				return false
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if !fn(name, f) {
			return false
		}
	}
	return true
}
