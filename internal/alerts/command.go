package alerts

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/kuma-agent/kuma-agent/internal/proc"
)

// maxCommandOutput caps what a command's stdout+stderr contributes to the log.
const maxCommandOutput = 16 << 10

type commandAction struct {
	name string
	cfg  Action
	log  *slog.Logger
}

// deliver runs the command through proc.Run: no shell, the event JSON on
// stdin, its own process group (a timeout kills its children too), the
// minimal environment.
func (c *commandAction) deliver(ctx context.Context, j job, body []byte) error {
	res, err := proc.Run(ctx, proc.Cmd{Argv: c.cfg.Command, Stdin: body, Timeout: c.cfg.Timeout,
		MergeStderr: true, MaxStdout: maxCommandOutput})
	attrs := []any{"action", c.name, "event_id", j.ev.ID, "command", c.cfg.Command[0]}
	if len(res.Stdout) > 0 || res.StdoutDropped > 0 {
		attrs = append(attrs, "output", string(res.Stdout), "output_dropped_bytes", res.StdoutDropped)
	}
	if err != nil {
		c.log.Warn("alert command failed", append(attrs, "err", err)...)
		return fmt.Errorf("command %s: %w", c.name, err)
	}
	c.log.Info("alert command ran", attrs...)
	return nil
}
