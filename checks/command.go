package checks

import (
	"context"
	"os/exec"
)

// Commander runs a program and returns its combined output. Checks that shell
// out (hostname -f, nginx -t) take one so tests can use a fake binary or a
// canned answer.
type Commander interface {
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// ExecCommander runs real programs.
type ExecCommander struct{}

func (ExecCommander) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

// CommanderFunc adapts a function.
type CommanderFunc func(ctx context.Context, name string, args ...string) ([]byte, error)

func (f CommanderFunc) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return f(ctx, name, args...)
}
