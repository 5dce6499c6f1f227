package main

// Shell completion for bash and zsh, written from the command table (names,
// subcommands, flags and the values a choice flag accepts), so it cannot
// drift from the binary. The packages install both scripts, generated at
// build time; `kuma-agent completion bash` prints the same script.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// completionWriters are the shells completion supports, by name.
var completionWriters = map[string]func(io.Writer, []completionSpec) error{
	"bash": writeBashCompletion,
	"zsh":  writeZshCompletion,
}

func completionCommand(o stdio) *command {
	shells := []string{"bash", "zsh"}
	return &command{
		name:     "completion",
		short:    "print the bash or zsh completion script",
		usage:    "kuma-agent completion bash|zsh",
		withArgs: true,
		verbs:    shells,
		help: "Prints a completion script for the shell. The packages install both (bash:\n" +
			"/usr/share/bash-completion/completions/kuma-agent; zsh: _kuma-agent in the\n" +
			"vendor-completions or site-functions directory). Without them, in bash:\n" +
			"source <(kuma-agent completion bash)",
		exec: func(_ context.Context, args []string) error {
			if len(args) != 1 {
				return usagef("want one shell: %s", orList(shells))
			}
			write, ok := completionWriters[args[0]]
			if !ok {
				return usagef("unknown shell %q (want %s)", args[0], orList(shells))
			}
			specs, err := completionSpecs(commands(o))
			if err != nil {
				return err
			}
			return write(o.out, specs)
		},
	}
}

// completionSpec is what completion knows of one command.
type completionSpec struct {
	name, short string
	verbs       []string
	flags       []string            // names, without dashes
	valueFlags  []string            // the flags that take a value
	choices     map[string][]string // flag name -> the values it accepts
}

// completionWord is what may go into a script unquoted: the command
// table's names and choices are code, but a script is no place to find out
// that one of them changed shape.
var completionWord = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// completionSpecs reads the visible commands of cmds, plus help (whose
// argument is a command), refusing a word a script could not hold.
func completionSpecs(cmds []*command) ([]completionSpec, error) {
	var out []completionSpec
	var names []string
	for _, c := range cmds {
		if c.hidden {
			continue
		}
		s := completionSpec{name: c.name, short: c.short, verbs: c.verbs, choices: map[string][]string{}}
		c.flagSet().VisitAll(func(f *flag.Flag) {
			s.flags = append(s.flags, f.Name)
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				return
			}
			s.valueFlags = append(s.valueFlags, f.Name)
			if ch, ok := f.Value.(*choiceFlag); ok {
				s.choices[f.Name] = ch.allowed
			}
		})
		words := append(append([]string{s.name}, s.verbs...), s.flags...)
		for _, vs := range s.choices {
			words = append(words, vs...)
		}
		for _, w := range words {
			if !completionWord.MatchString(w) {
				return nil, fmt.Errorf("completion: command %s: %q is not a plain word", c.name, w)
			}
		}
		out = append(out, s)
		names = append(names, c.name)
	}
	out = append(out, completionSpec{name: "help", short: "a command's usage and flags", verbs: names})
	return out, nil
}

// dashed is the flags as the shell offers them: --name.
func dashed(names []string) string {
	var out []string
	for _, n := range names {
		out = append(out, "--"+n)
	}
	return strings.Join(out, " ")
}

// choiceCases is one case pattern per choice flag: "cmd --flag"|"cmd -flag"
// and its values, sorted by flag for a stable script.
func choiceCases(s completionSpec) [][2]string {
	var out [][2]string
	for _, f := range sortedKeys(s.choices) {
		out = append(out, [2]string{
			fmt.Sprintf(`"%s --%s"|"%s -%s"`, s.name, f, s.name, f),
			strings.Join(s.choices[f], " "),
		})
	}
	return out
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// valueCase is the case pattern of a command's flags that take a value
// ("" when it has none): after one, the shell completes file names.
func valueCase(s completionSpec) string {
	var alts []string
	for _, f := range s.valueFlags {
		alts = append(alts, fmt.Sprintf(`"%s --%s"|"%s -%s"`, s.name, f, s.name, f))
	}
	return strings.Join(alts, "|")
}

// caseArms are one shell's case arms (fmt formats) for the two case
// statements both scripts have.
type caseArms struct {
	command string // a command's arm: its name, dashed flags and verbs
	other   string // the arm for any other first word
	choice  string // after a choice flag: the pattern and the values
	value   string // after a flag that takes a value: the pattern
}

// writeCases writes the arms of the case on the command (its flags and
// verbs), ends it, and opens and fills the case on "command previous-word"
// (a choice flag's values; after another value flag, files). The caller
// closes the second case.
func writeCases(b *strings.Builder, specs []completionSpec, a caseArms) {
	for _, s := range specs {
		fmt.Fprintf(b, a.command, s.name, dashed(s.flags), strings.Join(s.verbs, " "))
	}
	b.WriteString(a.other + "\tesac\n\tcase \"$cmd $prev\" in\n")
	for _, s := range specs {
		for _, c := range choiceCases(s) {
			fmt.Fprintf(b, a.choice, c[0], c[1])
		}
		if vc := valueCase(s); vc != "" {
			fmt.Fprintf(b, a.value, vc)
		}
	}
}

func writeBashCompletion(w io.Writer, specs []completionSpec) error {
	var b strings.Builder
	b.WriteString(`# bash completion for kuma-agent: generated by ` + "`kuma-agent completion bash`" + ` from its
# command table; do not edit. Needs nothing beyond bash itself.
_kuma_agent() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	COMPREPLY=()
	if [ "$COMP_CWORD" -eq 1 ]; then
		mapfile -t COMPREPLY < <(compgen -W '`)
	var names []string
	for _, s := range specs {
		names = append(names, s.name)
	}
	b.WriteString(strings.Join(names, " ") + `' -- "$cur")
		return 0
	fi
	local cmd=${COMP_WORDS[1]} flags= verbs=
	case $cmd in
`)
	writeCases(&b, specs, caseArms{
		command: "\t%s) flags='%s' verbs='%s' ;;\n",
		other:   "\t*) return 0 ;;\n",
		choice:  "\t%s)\n\t\tmapfile -t COMPREPLY < <(compgen -W '%s' -- \"$cur\")\n\t\treturn 0 ;;\n",
		// A value (a file, a duration): the shell's default completion.
		value: "\t%s) return 0 ;;\n",
	})
	b.WriteString(`	esac
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$flags" -- "$cur")
	elif [ "$COMP_CWORD" -eq 2 ] && [ -n "$verbs" ]; then
		mapfile -t COMPREPLY < <(compgen -W "$verbs" -- "$cur")
	fi
	return 0
}
complete -o default -F _kuma_agent kuma-agent
`)
	_, err := io.WriteString(w, b.String())
	return err
}

// zshQuote is s in single quotes for zsh.
func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func writeZshCompletion(w io.Writer, specs []completionSpec) error {
	var b strings.Builder
	b.WriteString(`#compdef kuma-agent
# zsh completion for kuma-agent: generated by ` + "`kuma-agent completion zsh`" + ` from its
# command table; do not edit.
_kuma-agent() {
	local -a cmds flags verbs
	cmds=(
`)
	for _, s := range specs {
		fmt.Fprintf(&b, "\t\t%s\n", zshQuote(s.name+":"+s.short))
	}
	b.WriteString(`	)
	if (( CURRENT == 2 )); then
		_describe -t commands 'kuma-agent command' cmds
		return
	fi
	local cmd=$words[2] prev=$words[CURRENT-1]
	case $cmd in
`)
	writeCases(&b, specs, caseArms{
		command: "\t(%s) flags=(%s) verbs=(%s) ;;\n",
		other:   "\t(*) return 1 ;;\n",
		choice:  "\t(%s) compadd -- %s; return ;;\n",
		value:   "\t(%s) _files; return ;;\n",
	})
	b.WriteString(`	esac
	if [[ $PREFIX == -* ]]; then
		compadd -- $flags
	elif (( CURRENT == 3 && $#verbs )); then
		compadd -- $verbs
	else
		_files
	fi
}
if [ "$funcstack[1]" = "_kuma-agent" ]; then
	_kuma-agent "$@"
else
	compdef _kuma-agent kuma-agent
fi
`)
	_, err := io.WriteString(w, b.String())
	return err
}
