package alerts

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"syscall"
	"time"
)

// maxCommandOutput caps what a command's stdout+stderr contributes to the log.
const maxCommandOutput = 16 << 10

// commandWaitDelay is how long Wait lingers for output pipes after the
// process group was killed (a daemonised grandchild may hold them).
const commandWaitDelay = 2 * time.Second

type commandAction struct {
	name string
	cfg  Action
	log  *slog.Logger
}

// deliver runs the command without a shell, the event JSON on stdin. It
// runs in its own process group so a timeout kills its children too.
func (c *commandAction) deliver(ctx context.Context, j job, body []byte) error {
	if c.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, c.cfg.Command[0], c.cfg.Command[1:]...)
	cmd.Stdin = bytes.NewReader(body)
	out := &cappedBuffer{max: maxCommandOutput}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = commandWaitDelay
	err := cmd.Run()
	attrs := []any{"action", c.name, "event_id", j.ev.ID, "command", c.cfg.Command[0]}
	if out.Len() > 0 || out.truncated {
		attrs = append(attrs, "output", out.String(), "output_truncated", out.truncated)
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		c.log.Warn("alert command failed", append(attrs, "err", err)...)
		return fmt.Errorf("command %s: %w", c.name, err)
	}
	c.log.Info("alert command ran", attrs...)
	return nil
}

// cappedBuffer keeps the first max bytes written and notes the rest; exec
// serialises writes when Stdout and Stderr are the same writer.
type cappedBuffer struct {
	bytes.Buffer
	max       int
	truncated bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	room := b.max - b.Len()
	if room < len(p) {
		b.truncated = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil // keep the child writing rather than SIGPIPE it
	}
	return b.Buffer.Write(p)
}
