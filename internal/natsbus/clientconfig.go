package natsbus

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/config"
)

// ClientOptionsFor is how this node's readers (`events`, `alerts`) reach
// NATS: the external server of events.nats with its credentials, else the
// local embedded one as the node's reader identity, which the agent keeps
// in <state_dir>/nats-reader.json (root's). The agent itself connects to
// its embedded server as its own identity, never from a file.
func ClientOptionsFor(cfg config.Config, name string, log *slog.Logger) (ClientOptions, error) {
	ev := cfg.Events
	n := ev.NATS
	o := ClientOptions{URL: n.URL, User: n.User, CredsFile: n.CredsFile, NKeyFile: n.NKeyFile,
		CAFile: n.CAFile, CertFile: n.CertFile, KeyFile: n.KeyFile, Name: name, Logger: log}
	if o.URL == "" {
		o.URL = "nats://" + net.JoinHostPort(ev.Embedded.Host, strconv.Itoa(ev.Embedded.Port))
		o.IdentityFile = filepath.Join(cfg.StateDir, ReaderIdentityFile)
		return o, nil
	}
	if n.PasswordFile != "" {
		pw, err := os.ReadFile(n.PasswordFile)
		if err != nil {
			return o, fmt.Errorf("events.nats.password_file: %w", err)
		}
		o.Password = strings.TrimSpace(string(pw))
	}
	return o, nil
}
