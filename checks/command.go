package checks

import (
	"context"

	"github.com/kuma-agent/kuma-agent/internal/proc"
)

// Commander runs a program and returns its combined output. Checks that shell
// out (hostname -f, nginx -t) take one so tests can use a fake binary or a
// canned answer.
type Commander interface {
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// maxCommandOutput caps the combined output a check reads of a program.
const maxCommandOutput = 64 << 10

// ExecCommander runs real programs through proc.Run: argv without a shell,
// its own process group (killed with whatever it left behind, or when ctx
// ends), minimal environment, output capped.
type ExecCommander struct{}

func (ExecCommander) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	res, err := proc.Run(ctx, proc.Cmd{Argv: append([]string{name}, args...), MergeStderr: true,
		MaxStdout: maxCommandOutput, KillLeftovers: true})
	return res.Stdout, err
}

// CommanderFunc adapts a function.
type CommanderFunc func(ctx context.Context, name string, args ...string) ([]byte, error)

func (f CommanderFunc) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return f(ctx, name, args...)
}
