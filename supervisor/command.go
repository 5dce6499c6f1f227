package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template"

	"github.com/kuma-agent/kuma-agent/internal/proc"
)

// Runner runs a local command (argv, never a shell string built from
// network input) and returns its stdout. A failure's error names the
// command and quotes the end of what it printed; when the command ran and
// exited non-zero, the error has an ExitCode() int method.
type Runner interface {
	Run(ctx context.Context, argv []string) ([]byte, error)
}

// ExecRunner runs commands through proc.Run: a process group of their own,
// killed as a group when ctx ends, output capped at 64 KiB, and the
// minimal environment plus Env.
type ExecRunner struct {
	Env []string
}

const maxCommandOutput = 64 << 10

// quotedOutput is how much of a failed command's output its error quotes.
const quotedOutput = 512

// passedEnv are the variables of the agent's environment its commands get:
// kubectl finds its kubeconfig through them.
var passedEnv = []string{"HOME", "KUBECONFIG"}

// defaultRunner is the ExecRunner used when options name none.
func defaultRunner() Runner {
	var env []string
	for _, k := range passedEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return ExecRunner{Env: env}
}

// Run implements Runner.
func (r ExecRunner) Run(ctx context.Context, argv []string) ([]byte, error) {
	res, err := proc.Run(ctx, proc.Cmd{Argv: argv, Env: r.Env, MaxStdout: maxCommandOutput, MaxStderr: maxCommandOutput})
	if err != nil {
		said := strings.TrimSpace(string(res.Stderr))
		if said == "" {
			said = strings.TrimSpace(string(res.Stdout))
		}
		if len(said) > quotedOutput {
			said = "..." + said[len(said)-quotedOutput:]
		}
		return res.Stdout, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, said)
	}
	return res.Stdout, nil
}

// exitCode is the exit status of a command that ran and failed; ok is
// false for an error that is not one (not started, killed, a signal).
func exitCode(err error) (code int, ok bool) {
	var ee interface{ ExitCode() int }
	if errors.As(err, &ee) && ee.ExitCode() >= 0 {
		return ee.ExitCode(), true
	}
	return 0, false
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

// expand fills {{.Field}} placeholders of each argument from vars. Each
// argument stays one argument whatever a value contains. A placeholder in
// a shell's script (`sh -c '... {{.Name}} ...'`) is refused: a value
// would become shell code; pass it as an argument after the script
// (`sh -c '... "$1" ...' sh {{.Name}}`).
func expand(argv []string, vars any) ([]string, error) {
	if i := shellScript(argv); i >= 0 && strings.Contains(argv[i], "{{") {
		return nil, fmt.Errorf("argument %d is a shell script with a {{...}} placeholder: a value must never be shell code; "+
			"pass it as an argument after the script and use \"$1\"", i)
	}
	out := make([]string, 0, len(argv))
	for i, a := range argv {
		t, err := template.New("arg").Option("missingkey=error").Parse(a)
		if err != nil {
			return nil, fmt.Errorf("argument %d %q: %w", i, a, err)
		}
		var b strings.Builder
		if err := t.Execute(&b, vars); err != nil {
			return nil, fmt.Errorf("argument %d %q: %w", i, a, err)
		}
		out = append(out, b.String())
	}
	return out, nil
}
