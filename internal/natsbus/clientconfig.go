package natsbus

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/config"
)

// ClientOptionsFor is how this node's programs (the agent, `events`,
// `alerts`) reach NATS: the external server of events.nats, else the local
// embedded one.
func ClientOptionsFor(ev config.Events, name string, log *slog.Logger) (ClientOptions, error) {
	n := ev.NATS
	o := ClientOptions{URL: n.URL, User: n.User, CredsFile: n.CredsFile, NKeyFile: n.NKeyFile,
		CAFile: n.CAFile, CertFile: n.CertFile, KeyFile: n.KeyFile, Name: name, Logger: log}
	if o.URL == "" {
		o.URL = "nats://" + net.JoinHostPort(ev.Embedded.Host, strconv.Itoa(ev.Embedded.Port))
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
