package agent

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/natsbus"
)

// External NATS with each auth method events.nats offers: the settings go
// through NATSClientOptions (as the agent, `events` and `alerts` use them)
// to a real nats-server configured for that method. Good credentials
// connect and publish an event; wrong ones are refused, saying why.

// startAuthServer runs a JetStream nats-server with opts' auth on loopback.
func startAuthServer(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	opts.Host, opts.Port = "127.0.0.1", -1
	opts.JetStream, opts.StoreDir = true, t.TempDir()
	opts.NoSigs, opts.NoLog = true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// externalConnect connects as the config says, within d.
func externalConnect(t *testing.T, cfg config.Config, d time.Duration) (jetstream.JetStream, error) {
	t.Helper()
	o, err := natsbus.ClientOptionsFor(cfg, "auth test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("ClientOptionsFor: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	nc, err := natsbus.Connect(ctx, o)
	if err != nil {
		return nil, err
	}
	t.Cleanup(nc.Close)
	return jetstream.New(nc)
}

// mustPublish stores one event through js and checks it is there.
func mustPublish(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := natsbus.EnsureStream(ctx, js, natsbus.StreamOptions{}); err != nil {
		t.Fatalf("EnsureStream: %v", err)
	}
	e, err := events.New("kuma", "core-1.example.com", events.AgentStarted, "agent", events.SeverityInfo, events.AgentData{Version: "test"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := natsbus.Publish(ctx, js, e); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	var got []string
	if err := natsbus.Read(ctx, js, natsbus.DefaultStreamName, natsbus.Query{}, func(r events.Event) error {
		got = append(got, r.ID)
		return nil
	}); err != nil || len(got) != 1 || got[0] != e.ID {
		t.Fatalf("read back %v, %v; want [%s]", got, err, e.ID)
	}
}

// mustRefuse: connecting fails, and the error says why (each of want).
func mustRefuse(t *testing.T, cfg config.Config, want ...string) {
	t.Helper()
	if _, err := externalConnect(t, cfg, 3*time.Second); err == nil {
		t.Fatal("connected with wrong credentials")
	} else {
		for _, w := range want {
			if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(w)) {
				t.Errorf("error %q does not say %q", err, w)
			}
		}
		t.Logf("refused: %v", err)
	}
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExternalNATSNKey(t *testing.T) {
	user, other := mustKP(t, nkeys.CreateUser), mustKP(t, nkeys.CreateUser)
	pub, _ := user.PublicKey()
	s := startAuthServer(t, &server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}})
	seedFile := func(kp nkeys.KeyPair) string {
		seed, _ := kp.Seed()
		return writeFile(t, "user.nk", seed)
	}
	cfg := config.Default()
	cfg.Events.NATS.URL = s.ClientURL()
	cfg.Events.NATS.NKeyFile = seedFile(user)
	js, err := externalConnect(t, cfg, 10*time.Second)
	if err != nil {
		t.Fatalf("connect with the user's nkey: %v", err)
	}
	mustPublish(t, js)

	cfg.Events.NATS.NKeyFile = seedFile(other) // a seed the server does not know
	mustRefuse(t, cfg, "authorization violation")
	cfg.Events.NATS.NKeyFile = writeFile(t, "garbage.nk", []byte("not a seed\n"))
	mustRefuse(t, cfg, "nkey file "+cfg.Events.NATS.NKeyFile)
}

func TestExternalNATSCreds(t *testing.T) {
	op := mustKP(t, nkeys.CreateOperator)
	opPub, _ := op.PublicKey()
	opClaims := jwt.NewOperatorClaims(opPub)
	resolver := &server.MemAccResolver{}
	account := func(name string, js bool) nkeys.KeyPair {
		kp := mustKP(t, nkeys.CreateAccount)
		pub, _ := kp.PublicKey()
		ac := jwt.NewAccountClaims(pub)
		ac.Name = name
		if js {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		tok, err := ac.Encode(op)
		if err != nil {
			t.Fatal(err)
		}
		if err := resolver.Store(pub, tok); err != nil {
			t.Fatal(err)
		}
		return kp
	}
	sys, acc := account("SYS", false), account("KUMA", true)
	sysPub, _ := sys.PublicKey()
	s := startAuthServer(t, &server.Options{TrustedOperators: []*jwt.OperatorClaims{opClaims}, AccountResolver: resolver, SystemAccount: sysPub})

	creds := func(issuer nkeys.KeyPair) string {
		u := mustKP(t, nkeys.CreateUser)
		upub, _ := u.PublicKey()
		uc := jwt.NewUserClaims(upub)
		tok, err := uc.Encode(issuer)
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := u.Seed()
		b, err := jwt.FormatUserConfig(tok, seed)
		if err != nil {
			t.Fatal(err)
		}
		return writeFile(t, "user.creds", b)
	}
	cfg := config.Default()
	cfg.Events.NATS.URL = s.ClientURL()
	cfg.Events.NATS.CredsFile = creds(acc)
	js, err := externalConnect(t, cfg, 10*time.Second)
	if err != nil {
		t.Fatalf("connect with the account's user: %v", err)
	}
	mustPublish(t, js)

	// A user of an account the operator never signed.
	cfg.Events.NATS.CredsFile = creds(mustKP(t, nkeys.CreateAccount))
	mustRefuse(t, cfg, "authorization violation")
}

func TestExternalNATSMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, other := newTestCA(t, dir, "nats"), newTestCA(t, dir, "rogue")
	srvCert, srvKey := ca.issue(t, "server", "127.0.0.1")
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: srvCert, KeyFile: srvKey, CaFile: ca.file, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	s := startAuthServer(t, &server.Options{TLS: true, TLSVerify: true, TLSConfig: tc, TLSTimeout: 2})

	cfg := config.Default()
	cfg.Events.NATS.URL = s.ClientURL() // tls://
	cfg.Events.NATS.CAFile = ca.file
	cfg.Events.NATS.CertFile, cfg.Events.NATS.KeyFile = ca.issue(t, "agent")
	js, err := externalConnect(t, cfg, 10*time.Second)
	if err != nil {
		t.Fatalf("connect with a client certificate: %v", err)
	}
	mustPublish(t, js)

	good := cfg
	cfg.Events.NATS.CertFile, cfg.Events.NATS.KeyFile = other.issue(t, "rogue-agent") // signed by a CA the server does not trust
	mustRefuse(t, cfg, "tls")
	cfg = good
	cfg.Events.NATS.CertFile, cfg.Events.NATS.KeyFile = "", "" // no client certificate
	mustRefuse(t, cfg, "tls")
	cfg = good
	cfg.Events.NATS.CAFile = other.file // does not trust the server
	mustRefuse(t, cfg, "certificate signed by unknown authority")
}

func mustKP(t *testing.T, create func() (nkeys.KeyPair, error)) nkeys.KeyPair {
	t.Helper()
	kp, err := create()
	if err != nil {
		t.Fatal(err)
	}
	return kp
}
