package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/argtmpl"
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

// expand fills the {{.Field}} references of argv from vars (argtmpl:
// nothing but plain references, none inside a shell's -c script; each
// argument stays one argument whatever a value holds).
func expand(argv []string, vars map[string]string) ([]string, error) {
	return argtmpl.Expand(argv, vars)
}
