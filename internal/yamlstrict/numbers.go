package yamlstrict

import (
	"reflect"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

var (
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	durationType    = reflect.TypeFor[time.Duration]()
)

// floatsForInts finds the scalars written as numbers with a fraction or an
// exponent (1.5, 1e3) where v's type wants an integer: yaml.v3 truncates
// them without a word (`concurrency: 1.5` became 1). Types that decode
// themselves (yaml.Unmarshaler) and durations (yaml.v3 refuses floats
// there) are left alone; aliases are not followed.
func (d *Doc) floatsForInts(v any) Errors {
	var out Errors
	var walk func(n *yaml.Node, t reflect.Type, key string)
	walk = func(n *yaml.Node, t reflect.Type, key string) {
		if n == nil || t == nil {
			return
		}
		t = deref(t)
		if t == durationType || reflect.PointerTo(t).Implements(unmarshalerType) || t.Implements(unmarshalerType) {
			return
		}
		switch t.Kind() {
		case reflect.Struct:
			if n.Kind != yaml.MappingNode {
				return
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				if f, ok := fieldByKey(t, n.Content[i].Value); ok {
					walk(n.Content[i+1], f.Type, join(key, n.Content[i].Value))
				}
			}
		case reflect.Map:
			if n.Kind != yaml.MappingNode {
				return
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], t.Elem(), join(key, n.Content[i].Value))
			}
		case reflect.Slice, reflect.Array:
			if n.Kind != yaml.SequenceNode {
				return
			}
			for i, c := range n.Content {
				walk(c, t.Elem(), key+"["+strconv.Itoa(i)+"]")
			}
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!float" {
				out = append(out, &Error{File: d.File, Line: n.Line, Key: key,
					Msg: "must be an integer (a whole number, no decimal point), not " + n.Value})
			}
		}
	}
	walk(d.Body, reflect.TypeOf(v), "")
	return out
}

func join(key, name string) string {
	if key == "" {
		return name
	}
	return key + "." + name
}
