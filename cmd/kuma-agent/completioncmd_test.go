package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/testlab"
)

// completionScript is `kuma-agent completion SHELL` in a file.
func completionScript(t *testing.T, shell string) string {
	t.Helper()
	code, out, errOut := run(context.Background(), "completion", shell)
	if code != 0 || errOut != "" {
		t.Fatalf("completion %s: exit %d, stderr %q", shell, code, errOut)
	}
	path := filepath.Join(t.TempDir(), "kuma-agent."+shell)
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// completionCases are a command line (the word under the cursor last) and
// what completing it offers.
var completionCases = []struct{ line, want string }{
	{"kuma-agent do", "doctor"},
	{"kuma-agent ke", "keygen keyring"},
	{"kuma-agent raft re", "remove-node restore-node restore-cluster"},
	{"kuma-agent keyring ", "list install use remove"},
	{"kuma-agent doctor --f", "--format --fresh"},
	{"kuma-agent doctor --format n", "nagios"},
	{"kuma-agent members -format ", "table json"},
	{"kuma-agent completion ", "bash zsh"},
	{"kuma-agent help ra", "raft"},
	{"kuma-agent ma", ""},                       // man is hidden
	{"kuma-agent doctor --config ", ""},         // a file: the shell's default
	{"kuma-agent raft status --t", "--timeout"}, // flags after a verb
}

// Bash completes commands, subcommands, flags and choice values from the
// installed script alone (no bash-completion package needed).
func TestBashCompletion(t *testing.T) {
	testlab.NeedTools(t, "bash")
	script := completionScript(t, "bash")
	for _, c := range completionCases {
		prog := `source "$1"; read -ra COMP_WORDS <<<"$2"; [[ $2 == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _kuma_agent; echo "${COMPREPLY[*]}"; complete -p kuma-agent`
		out, err := exec.Command("bash", "--norc", "--noprofile", "-c", prog, "bash", script, c.line).CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", c.line, err, out)
		}
		lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
		if len(lines) != 2 || lines[0] != c.want || lines[1] != "complete -o default -F _kuma_agent kuma-agent" {
			t.Errorf("bash: %q offers %q, want %q", c.line, lines, c.want)
		}
	}
}

// Zsh: the script is valid and, with the completion system's functions
// recording what they are given, offers what bash offers.
func TestZshCompletion(t *testing.T) {
	testlab.NeedTools(t, "zsh")
	script := completionScript(t, "zsh")
	if out, err := exec.Command("zsh", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("zsh -n: %v\n%s", err, out)
	}
	for _, c := range completionCases {
		// compadd and _describe get every candidate: zsh itself filters
		// them by the prefix, so the stub does that here.
		prog := `compadd() { [[ $1 == -- ]] && shift; offered+=("$@"); }
_describe() { local d; for d in ${(P)4}; do offered+=("${d%%:*}"); done; }
_files() { }; compdef() { }
source "$1"; words=(${(z)2}); [[ $2 == *" " ]] && words+=("")
CURRENT=$#words; PREFIX=$words[CURRENT]; typeset -a offered
_kuma-agent
print -r -- ${(M)offered:#${PREFIX}*}`
		out, err := exec.Command("zsh", "-f", "-c", prog, "zsh", script, c.line).CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", c.line, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != c.want {
			t.Errorf("zsh: %q offers %q, want %q", c.line, got, c.want)
		}
	}
}

func TestCompletionRefusesWhatAScriptCannotHold(t *testing.T) {
	bad := &command{name: "x", short: "x", usage: "kuma-agent x", verbs: []string{"a b"}}
	if _, err := completionSpecs([]*command{bad}); err == nil || !strings.Contains(err.Error(), `"a b" is not a plain word`) {
		t.Errorf("a verb with a space: %v, want refused", err)
	}
	code, _, errOut := run(context.Background(), "completion", "fish")
	if code != 2 || !strings.Contains(errOut, `unknown shell "fish" (want bash or zsh)`) {
		t.Errorf("completion fish: exit %d, %q", code, errOut)
	}
}
