// Package natsbus is kuma-agent's NATS layer: the embedded server each agent
// runs (clustered with the other agents' servers by authenticated routes,
// JetStream on), the client connection, the events stream, and publishing
// and reading events.
package natsbus

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"time"

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
	// ClientUser and ClientPassword are required from clients; mandatory
	// when Host is not loopback.
	ClientUser, ClientPassword string
	// TLS, when set, is used for the client and the route listeners.
	TLS *tls.Config
	// RouteTLS, when set, is used for the routes instead of TLS (the
	// clients on loopback stay plain): see RouteTLSConfig.
	RouteTLS *tls.Config
	// StoreDir holds JetStream's files.
	StoreDir string
	// Logger receives the server's log; nil silences it.
	Logger *slog.Logger
}

// Server is a running embedded NATS server.
type Server struct {
	ns *server.Server
}

// StartServer starts a JetStream-enabled server and waits until it accepts
// clients.
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
		ns.SetLogger(serverLogger{o.Logger.With("component", "nats-server")}, false, false)
	}
	ns.Start()
	if !ns.ReadyForConnections(ReadyTimeout) {
		ns.Shutdown()
		return nil, fmt.Errorf("nats server %q: not ready for connections after %s", o.Name, ReadyTimeout)
	}
	return &Server{ns: ns}, nil
}

func (o ServerOptions) natsOptions() (*server.Options, error) {
	if o.StoreDir == "" {
		return nil, errors.New("nats server: store_dir is empty")
	}
	host := o.Host
	if host == "" {
		host = "127.0.0.1"
	}
	if !isLoopback(host) && (o.ClientUser == "" || o.ClientPassword == "") {
		return nil, fmt.Errorf("nats server: client port on %s leaves loopback: client user and password are required", host)
	}
	opts := &server.Options{
		ServerName: o.Name,
		Host:       host,
		Port:       o.Port,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		NoSigs:     true,
		NoLog:      o.Logger == nil,
		Username:   o.ClientUser,
		Password:   o.ClientPassword,
		TLSConfig:  o.TLS,
	}
	if o.TLS != nil {
		opts.TLS = true
		opts.TLSTimeout = 2
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
	rtls := o.TLS
	if o.RouteTLS != nil {
		rtls = o.RouteTLS
	}
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

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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
