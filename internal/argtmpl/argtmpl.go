// Package argtmpl is the one form of the agent's command templates (the
// supervisor's rejoin join_command, cleanup steps, exec backend commands):
// an argv whose arguments may hold {{.Field}} references and nothing else.
// No other template action is allowed (no function call, pipeline,
// variable, condition, range or nested template): a value is substituted
// as text into the one argument that names it, and the program runs
// without a shell (proc.Run), so no value can become code. A reference
// inside a shell's -c script is refused as well: there the value would be
// code.
//
// Check is what `kuma-agent config check` runs on every command template;
// Expand checks again before it substitutes, so a template that was never
// checked cannot do more.
package argtmpl

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"text/template/parse"
)

// Error is a refused argument of a command template.
type Error struct {
	Index int // of the argument in argv
	Msg   string
}

func (e *Error) Error() string { return fmt.Sprintf("argument %d: %s", e.Index, e.Msg) }

// Check returns every problem of the template argv: an argument that does
// not parse, a template action other than a plain {{.Field}} reference, a
// field not in fields (when fields is not nil), a reference inside a
// shell's -c script. nil when the template is fine.
func Check(argv []string, fields []string) []*Error {
	var errs []*Error
	script := shellScript(argv)
	for i, a := range argv {
		refs, err := refs(a)
		if err != nil {
			errs = append(errs, &Error{i, err.Error()})
			continue
		}
		for _, f := range refs {
			if fields != nil && !slices.Contains(fields, f) {
				errs = append(errs, &Error{i, fmt.Sprintf("unknown placeholder {{.%s}} (known: %s)", f, strings.Join(fields, ", "))})
			}
		}
		if i == script && len(refs) > 0 {
			errs = append(errs, &Error{i, "a shell script with a {{...}} placeholder: a value must never be shell code; " +
				"pass it as an argument after the script and use \"$1\""})
		}
	}
	return errs
}

// Expand substitutes the references of argv from vars; each argument
// stays one argument whatever a value holds. A template Check refuses, or
// a reference with no value in vars, is an error and nothing is expanded.
func Expand(argv []string, vars map[string]string) ([]string, error) {
	if errs := Check(argv, nil); len(errs) > 0 {
		return nil, errs[0]
	}
	out := make([]string, 0, len(argv))
	for i, a := range argv {
		nodes, err := parseArg(a)
		if err != nil {
			return nil, &Error{i, err.Error()}
		}
		var b strings.Builder
		for _, n := range nodes {
			switch n := n.(type) {
			case *parse.TextNode:
				b.Write(n.Text)
			case *parse.ActionNode:
				f, _ := fieldRef(n)
				v, ok := vars[f]
				if !ok {
					return nil, &Error{i, fmt.Sprintf("no value for {{.%s}}", f)}
				}
				b.WriteString(v)
			}
		}
		out = append(out, b.String())
	}
	return out, nil
}

// refs lists the fields a's references name; an error for anything else.
func refs(a string) ([]string, error) {
	nodes, err := parseArg(a)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range nodes {
		switch n := n.(type) {
		case *parse.TextNode:
		case *parse.ActionNode:
			f, ok := fieldRef(n)
			if !ok {
				return nil, notAllowed(n)
			}
			out = append(out, f)
		default:
			return nil, notAllowed(n)
		}
	}
	return out, nil
}

func notAllowed(n parse.Node) error {
	s := n.String()
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return fmt.Errorf("template action %s is not allowed; only {{.Field}} references", s)
}

// parseArg parses one argument as a template; functions are not looked up
// (none is allowed anyway), so `{{call .X}}` parses and is refused by name.
func parseArg(a string) ([]parse.Node, error) {
	if !strings.Contains(a, "{{") {
		return []parse.Node{&parse.TextNode{NodeType: parse.NodeText, Text: []byte(a)}}, nil
	}
	t := parse.New("arg")
	t.Mode = parse.SkipFuncCheck
	set := map[string]*parse.Tree{}
	if _, err := t.Parse(a, "", "", set); err != nil {
		return nil, fmt.Errorf("not a valid template: %s", strings.TrimPrefix(err.Error(), "template: arg:1: "))
	}
	if len(set) > 1 {
		return nil, fmt.Errorf("template definitions are not allowed; only {{.Field}} references")
	}
	if t.Root == nil {
		return nil, nil
	}
	return t.Root.Nodes, nil
}

// fieldRef is the field of {{.Field}}: one command, one argument, a field
// one name deep, no variable declared.
func fieldRef(n *parse.ActionNode) (string, bool) {
	p := n.Pipe
	if p == nil || len(p.Decl) > 0 || p.IsAssign || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return "", false
	}
	f, ok := p.Cmds[0].Args[0].(*parse.FieldNode)
	if !ok || len(f.Ident) != 1 {
		return "", false
	}
	return f.Ident[0], true
}

// shells are programs whose -c option makes an argument a script.
var shells = []string{"sh", "bash", "dash", "ash", "ksh", "mksh", "zsh"}

// shellScript is the index of the script in argv when argv runs a shell
// with -c (directly or through env), or -1: the first non-option argument
// after the option that holds the c.
func shellScript(argv []string) int {
	i := 0
	if len(argv) > 0 && filepath.Base(argv[0]) == "env" {
		for i = 1; i < len(argv) && (strings.HasPrefix(argv[i], "-") || strings.Contains(argv[i], "=")); i++ {
		}
	}
	if i >= len(argv) || !slices.Contains(shells, filepath.Base(argv[i])) {
		return -1
	}
	withC := false
	for j := i + 1; j < len(argv); j++ {
		a := argv[j]
		switch {
		case a == "--":
		case strings.HasPrefix(a, "--"):
		case strings.HasPrefix(a, "-"):
			withC = withC || strings.Contains(a, "c")
		case withC:
			return j
		}
	}
	return -1
}
