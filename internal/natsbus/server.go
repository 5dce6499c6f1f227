// Package natsbus is kuma-agent's NATS layer: the embedded server each agent
// runs (on a few hub nodes clustered by authenticated routes with JetStream
// on; on the other nodes a leaf node without JetStream, connected to the
// hubs), the client connection, the events stream, and publishing and
// reading events.
package natsbus

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
)

// ReadyTimeout bounds how long StartServer waits for the server to accept
// clients.
const ReadyTimeout = 10 * time.Second

// ServerOptions configures the embedded server.
type ServerOptions struct {
	// Name is the node name; JetStream clustering needs it unique.
	Name string
	// Host is the client listen address; empty means 127.0.0.1.
	Host string
	// Port is the client port; -1 picks a free one.
	Port int
	// ClusterName names the route cluster; empty means "kuma-agent".
	ClusterName string
	// ClusterHost is the route listen address; empty means Host.
	ClusterHost string
	// ClusterPort is the route port: -1 picks a free one, 0 runs no cluster.
	ClusterPort int
	// Routes are nats-route://host:port of the other agents' servers; listing
	// this server too is fine (NATS ignores a route to itself), so every
	// agent can be given the same list.
	// RouteUser/RoutePassword are added to routes that carry none.
	Routes []string
	// RouteUser and RoutePassword authenticate routes both ways; required
	// with a cluster, since anyone who can route can read every event.
	RouteUser, RoutePassword string
	// Users are who may connect (see NodeUsers, LeafUser): every client
	// authenticates as one of them, and a hub accepts a leaf connection
	// only as one of its Leaf users. Required.
	Users []User
	// TLS, when set, is used for the client and the route listeners.
	TLS *tls.Config
	// RouteTLS, when set, is used for the routes and the leafnode
	// connections (both ways) instead of TLS (the clients on loopback stay
	// plain): see RouteTLSConfig.
	RouteTLS *tls.Config
	// StoreDir holds JetStream's files; unused with NoJetStream.
	StoreDir string
	// NoJetStream runs the server without JetStream: a leaf node (see
	// LeafRemotes) whose clients' JetStream requests (API, key-value,
	// publishes to streams) are served by the hubs' JetStream across the
	// leaf connection, in the same account.
	NoJetStream bool
	// LeafPort is the leafnode listener of a hub, on LeafHost (empty means
	// ClusterHost, else Host): -1 picks a free one, 0 runs none. Leaf nodes
	// must authenticate as one of the Leaf users, and may then do on the
	// hub what that user's permissions allow.
	LeafHost string
	LeafPort int
	// LeafRemotes are nats-leaf://host:port of the hubs' leafnode
	// listeners, for a server with NoJetStream. They form one remote: the
	// server is connected to one hub at a time and fails over to another
	// (in random order) when that one is lost. LeafUser/LeafPassword are
	// added to URLs that carry none.
	LeafRemotes []string
	// LeafUser and LeafPassword are what this server's leaf connection
	// authenticates as (this node's RoleLeaf identity).
	LeafUser, LeafPassword string
	// Logger receives the server's log; nil silences it.
	Logger *slog.Logger
}

// Server is a running embedded NATS server.
type Server struct {
	ns *server.Server
}

// StartServer starts the server (JetStream on unless NoJetStream) and
// waits until it accepts clients.
func StartServer(o ServerOptions) (*Server, error) {
	opts, err := o.natsOptions()
	if err != nil {
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server %q: %w", o.Name, err)
	}
	if o.Logger != nil {
		ns.SetLogger(leafLogger{serverLogger{o.Logger.With("component", "nats-server")}}, false, false)
	}
	ns.Start()
	if !ns.ReadyForConnections(ReadyTimeout) {
		ns.Shutdown()
		return nil, fmt.Errorf("nats server %q: not ready for connections after %s", o.Name, ReadyTimeout)
	}
	return &Server{ns: ns}, nil
}

func (o ServerOptions) natsOptions() (*server.Options, error) {
	if o.StoreDir == "" && !o.NoJetStream {
		return nil, errors.New("nats server: store_dir is empty")
	}
	host := o.Host
	if host == "" {
		host = "127.0.0.1"
	}
	if err := validateUsers(o.Users); err != nil {
		return nil, err
	}
	opts := &server.Options{
		ServerName: o.Name,
		Host:       host,
		Port:       o.Port,
		JetStream:  !o.NoJetStream,
		StoreDir:   o.StoreDir,
		NoSigs:     true,
		NoLog:      o.Logger == nil,
		Users:      serverUsers(o.Users),
		TLSConfig:  o.TLS,
		// nats-server keeps a record of each closed client and leaf
		// connection, its subscriptions copied, for /connz?state=closed,
		// up to 10,000 by default. The agent serves no monitoring port, so
		// nothing reads them, yet every CLI call, reconnecting leaf node or
		// restarted subscriber would leave about 1.2 KB on the heap until
		// the ring is full, 11 MB for good (README, Figures: closed
		// connections). 0 means the default and fewer than 1 panics: one
		// record is the least.
		MaxClosedClients: 1,
	}
	if o.TLS != nil {
		opts.TLS = true
		opts.TLSTimeout = 2
	}
	if err := o.leafOptions(opts, host); err != nil {
		return nil, err
	}
	if o.ClusterPort == 0 {
		if len(o.Routes) > 0 {
			return nil, errors.New("nats server: routes given but cluster port is 0 (no cluster)")
		}
		return opts, nil
	}
	if len(o.Routes) == 0 {
		// JetStream clustering refuses to start without routes.
		return nil, errors.New("nats server: a cluster needs routes (list every server, this one included)")
	}
	if o.RouteUser == "" || o.RoutePassword == "" {
		return nil, errors.New("nats server: a cluster needs route user and password")
	}
	chost := o.ClusterHost
	if chost == "" {
		chost = host
	}
	cname := o.ClusterName
	if cname == "" {
		cname = "kuma-agent"
	}
	rtls := o.routeTLS()
	opts.Cluster = server.ClusterOpts{
		Name: cname, Host: chost, Port: o.ClusterPort,
		Username: o.RouteUser, Password: o.RoutePassword, TLSConfig: rtls,
	}
	if rtls != nil {
		opts.Cluster.TLSTimeout = 2
	}
	for i, r := range o.Routes {
		u, err := url.Parse(r)
		if err != nil {
			return nil, fmt.Errorf("nats server: routes[%d] %q: %w", i, r, err)
		}
		if u.Scheme != "nats-route" && u.Scheme != "nats" && u.Scheme != "tls" {
			return nil, fmt.Errorf("nats server: routes[%d] %q: scheme %q, want nats-route", i, r, u.Scheme)
		}
		if u.Host == "" {
			return nil, fmt.Errorf("nats server: routes[%d] %q: no host:port", i, r)
		}
		if u.User == nil {
			u.User = url.UserPassword(o.RouteUser, o.RoutePassword)
		}
		opts.Routes = append(opts.Routes, u)
	}
	return opts, nil
}

// routeTLS is the TLS of the routes and leafnode connections.
func (o ServerOptions) routeTLS() *tls.Config {
	if o.RouteTLS != nil {
		return o.RouteTLS
	}
	return o.TLS
}

// leafOptions adds the leafnode listener (a hub) or the remote to the hubs
// (a leaf node) to opts.
func (o ServerOptions) leafOptions(opts *server.Options, host string) error {
	if o.LeafPort == 0 && len(o.LeafRemotes) == 0 {
		return nil
	}
	rtls := o.routeTLS()
	if o.LeafPort != 0 {
		if !slices.ContainsFunc(o.Users, func(u User) bool { return u.Leaf }) {
			return errors.New("nats server: a leafnode listener needs leaf users")
		}
		lhost := o.LeafHost
		if lhost == "" {
			lhost = o.ClusterHost
		}
		if lhost == "" {
			lhost = host
		}
		// No authorization of its own: a leaf connection authenticates as
		// one of the users, restricted to the leaf connection type, and the
		// hub applies that user's permissions to it (publish: what the
		// leaf node may send to the hub; subscribe: what it may receive).
		opts.LeafNode.Host, opts.LeafNode.Port = lhost, o.LeafPort
		opts.LeafNode.Compression.Mode = server.CompressionOff // see the remote's
		if rtls != nil {
			opts.LeafNode.TLSConfig, opts.LeafNode.TLSTimeout = rtls, 2
		}
		// nats-server denies the global account's JetStream subjects
		// ($JS.API.>, $KV.>, $OBJ.>) on a leaf connection unless the
		// account's default JetStream domain is the empty one, on both
		// sides: without it here, JetStream API requests from a leaf node
		// still work but its key-value writes find no stream (tried).
		opts.JsAccDefaultDomain = map[string]string{server.DEFAULT_GLOBAL_ACCOUNT: ""}
	}
	if len(o.LeafRemotes) == 0 {
		return nil
	}
	if o.LeafUser == "" || o.LeafPassword == "" {
		return errors.New("nats server: leaf remotes need leaf user and password")
	}
	if !o.NoJetStream {
		// Two JetStreams in one account across a leaf connection need
		// domains; a leaf node here has none and uses the hubs'.
		return errors.New("nats server: leaf remotes are for a server without JetStream (NoJetStream)")
	}
	// No compression (nats-server's default for leaf connections is
	// s2_auto): on a LAN it costs memory and CPU and saves nothing, and the
	// routes do without it too.
	remote := &server.RemoteLeafOpts{Compression: server.CompressionOpts{Mode: server.CompressionOff}}
	for i, r := range o.LeafRemotes {
		u, err := url.Parse(r)
		if err != nil {
			return fmt.Errorf("nats server: leaf remotes[%d] %q: %w", i, r, err)
		}
		if u.Scheme != "nats-leaf" && u.Scheme != "nats" && u.Scheme != "tls" {
			return fmt.Errorf("nats server: leaf remotes[%d] %q: scheme %q, want nats-leaf", i, r, u.Scheme)
		}
		if u.Host == "" {
			return fmt.Errorf("nats server: leaf remotes[%d] %q: no host:port", i, r)
		}
		if u.User == nil {
			u.User = url.UserPassword(o.LeafUser, o.LeafPassword)
		}
		remote.URLs = append(remote.URLs, u)
	}
	if rtls != nil {
		remote.TLS, remote.TLSConfig, remote.TLSTimeout = true, rtls, 2
	}
	opts.LeafNode.Remotes = []*server.RemoteLeafOpts{remote}
	// Without JetStream of its own, this server lets the global account's
	// JetStream traffic cross the leaf connection to the hubs' JetStream:
	// the empty default domain for $G, as on the hubs.
	opts.JsAccDefaultDomain = map[string]string{server.DEFAULT_GLOBAL_ACCOUNT: ""}
	return nil
}

// leafLogger is serverLogger with nats-server's warning about the
// default_js_domain option (which leafOptions sets, on purpose, on every
// hub and leaf node) at debug level: on every start it would say nothing
// the operator can act on. TestLeafNodesUseTheHubsJetStream fails if a
// nats-server upgrade drops the option's effect.
type leafLogger struct{ serverLogger }

func (l leafLogger) Warnf(format string, v ...any) {
	if strings.Contains(format, "default_js_domain") {
		l.Debugf(format, v...)
		return
	}
	l.serverLogger.Warnf(format, v...)
}

// serverUsers are us as nats-server users: each with its permissions and
// its one connection type.
func serverUsers(us []User) []*server.User {
	out := make([]*server.User, 0, len(us))
	for _, u := range us {
		su := &server.User{Username: u.User, Password: u.Password,
			AllowedConnectionTypes: map[string]struct{}{jwt.ConnectionTypeStandard: {}}}
		if u.Leaf {
			su.AllowedConnectionTypes = map[string]struct{}{jwt.ConnectionTypeLeafnode: {}}
		}
		if p := u.Permissions; p != nil {
			su.Permissions = &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: nonNil(p.Publish)},
				Subscribe: &server.SubjectPermission{Allow: nonNil(p.Subscribe)},
			}
		}
		out = append(out, su)
	}
	return out
}

// nonNil: an empty allow list must allow nothing, and nats-server reads a
// nil one as "no restriction".
func nonNil(s []string) []string {
	if len(s) == 0 {
		return []string{"_KUMA_NOTHING_"}
	}
	return s
}

// ClientURL is the URL clients connect to.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// ClusterAddr is the route listener's host:port, "" without a cluster.
func (s *Server) ClusterAddr() string {
	a := s.ns.ClusterAddr()
	if a == nil {
		return ""
	}
	return net.JoinHostPort(a.IP.String(), strconv.Itoa(a.Port))
}

// NumLeafs is the number of leafnode connections (a hub: accepted from leaf
// nodes; a leaf node: 1 while connected to a hub).
func (s *Server) NumLeafs() int { return s.ns.NumLeafNodes() }

// NumRoutes is the number of route connections. NATS pools several
// connections per remote server, so compare with NumPeers for membership.
func (s *Server) NumRoutes() int { return s.ns.NumRoutes() }

// NumPeers is the number of distinct remote servers routed to.
func (s *Server) NumPeers() int {
	rz, err := s.ns.Routez(nil)
	if err != nil {
		return 0
	}
	peers := map[string]bool{}
	for _, r := range rz.Routes {
		peers[r.RemoteID] = true
	}
	return len(peers)
}

// Shutdown stops the server and waits for it to finish.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}
