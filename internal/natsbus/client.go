package natsbus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Reconnect pacing: a wait plus jitter so that every agent of a cluster does
// not hammer a restarted server in the same instant.
const (
	ReconnectWait      = 1 * time.Second
	ReconnectJitter    = 500 * time.Millisecond
	ReconnectJitterTLS = 1 * time.Second
)

// ClientOptions configures the client connection. One auth method is used:
// IdentityFile, else CredsFile, else NKeyFile, else User/Password.
type ClientOptions struct {
	// URL is one or more comma-separated server URLs.
	URL            string
	User, Password string
	// IdentityFile holds an Identity (WriteIdentityFile): its user and
	// password, read again at each reconnect (the agent rewrites the file
	// when it starts), and its inbox prefix.
	IdentityFile string
	CredsFile    string
	NKeyFile     string
	// InboxPrefix is where replies come, instead of _INBOX (an identity
	// may subscribe only to its own).
	InboxPrefix string
	// TLS wins over CAFile/CertFile/KeyFile when set.
	TLS                       *tls.Config
	CAFile, CertFile, KeyFile string
	// Name is the connection name servers show in monitoring.
	Name string
	// NoReconnectBuffer makes a publish fail at once while the connection
	// is re-established, instead of being buffered and sent after the
	// reconnect: what AsyncPublisher needs to keep events in order.
	NoReconnectBuffer bool
	Logger            *slog.Logger
}

// Connect dials o.URL and waits until connected or ctx is done. Once
// connected it reconnects forever: the outbox depends on the connection
// coming back, however long NATS is gone.
func Connect(ctx context.Context, o ClientOptions) (*nats.Conn, error) {
	if o.URL == "" {
		return nil, errors.New("nats connect: url is empty")
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "nats-client")
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(ReconnectWait),
		nats.ReconnectJitter(ReconnectJitter, ReconnectJitterTLS),
		// Retry the first connect too: the local server may start after us.
		nats.RetryOnFailedConnect(true),
		// A subscription the server refuses fails its reader (ReadLive)
		// instead of waiting forever for messages that never come.
		nats.PermissionErrOnSubscribe(true),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			log.Warn("nats disconnected", "url", nc.ConnectedUrlRedacted(), "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			log.Info("nats connection closed", "err", nc.LastError())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Warn("nats async error", "subject", subj, "err", err)
		}),
	}
	if o.NoReconnectBuffer {
		opts = append(opts, nats.ReconnectBufSize(-1))
	}
	inbox := o.InboxPrefix
	switch {
	case o.IdentityFile != "":
		id, err := ReadIdentityFile(o.IdentityFile)
		if err != nil {
			return nil, fmt.Errorf("nats connect: %w", err)
		}
		inbox = id.InboxPrefix
		opts = append(opts, nats.UserInfoHandler(func() (string, string) {
			if again, err := ReadIdentityFile(o.IdentityFile); err == nil && again.InboxPrefix == id.InboxPrefix {
				return again.User, again.Password
			}
			return id.User, id.Password
		}))
	case o.CredsFile != "":
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	case o.NKeyFile != "":
		nk, err := nats.NkeyOptionFromSeed(o.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("nats connect: nkey file %s: %w", o.NKeyFile, err)
		}
		opts = append(opts, nk)
	case o.User != "":
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if inbox != "" {
		opts = append(opts, nats.CustomInboxPrefix(inbox))
	}
	switch {
	case o.TLS != nil:
		opts = append(opts, nats.Secure(o.TLS))
	default:
		if o.CAFile != "" {
			opts = append(opts, nats.RootCAs(o.CAFile))
		}
		if o.CertFile != "" || o.KeyFile != "" {
			if o.CertFile == "" || o.KeyFile == "" {
				return nil, errors.New("nats connect: cert file and key file must be given together")
			}
			opts = append(opts, nats.ClientCert(o.CertFile, o.KeyFile))
		}
	}
	nc, err := nats.Connect(o.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats connect %s: %w", redactURL(o.URL), err)
	}
	if err := waitConnected(ctx, nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats connect %s: %w", redactURL(o.URL), err)
	}
	return nc, nil
}

// waitConnected polls because RetryOnFailedConnect returns a conn that is
// still reconnecting; an auth failure shows up as LastError meanwhile.
func waitConnected(ctx context.Context, nc *nats.Conn) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !nc.IsConnected() {
		select {
		case <-ctx.Done():
			if last := nc.LastError(); last != nil {
				return fmt.Errorf("%w (last error: %w)", ctx.Err(), last)
			}
			return ctx.Err()
		case <-t.C:
		}
		if nc.IsClosed() {
			return fmt.Errorf("connection closed: %w", nc.LastError())
		}
	}
	return nil
}

// redactURL hides passwords in a comma-separated URL list for errors.
func redactURL(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}
