package supervisor

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"text/template"
	"time"
)

// Runner runs a local command (argv, never a shell string built from
// network input) and returns its combined output.
type Runner interface {
	Run(ctx context.Context, argv []string) ([]byte, error)
}

// ExecRunner runs commands as child processes in their own process group,
// killed as a group when ctx ends, output capped at 64 KiB.
type ExecRunner struct{}

const maxCommandOutput = 64 << 10

// Run implements Runner.
func (ExecRunner) Run(ctx context.Context, argv []string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("empty command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	var out capped
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.Bytes(), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(out.String()))
	}
	return out.Bytes(), nil
}

// capped keeps the first maxCommandOutput bytes and discards the rest.
type capped struct{ bytes.Buffer }

func (c *capped) Write(p []byte) (int, error) {
	if room := maxCommandOutput - c.Len(); room > 0 {
		c.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// expand fills {{.Field}} placeholders of each argument from vars. Each
// argument stays one argument whatever a value contains: no shell.
func expand(argv []string, vars any) ([]string, error) {
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
