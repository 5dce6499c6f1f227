package yamlstrict

import "gopkg.in/yaml.v3"

// FirstAlias is the line of the first alias (*name) under n in document
// order, and whether there is one. Aliases buy nothing in a config file and
// are the vector of alias bombs, so strict decoders refuse them.
func FirstAlias(n *yaml.Node) (line int, found bool) {
	if n == nil {
		return 0, false
	}
	if n.Kind == yaml.AliasNode {
		return n.Line, true
	}
	for _, c := range n.Content {
		if line, found := FirstAlias(c); found {
			return line, true
		}
	}
	return 0, false
}
