package natsbus

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// Who may do what on the embedded servers. Every client authenticates as
// one identity; each identity belongs to one node and one role, and may
// publish and subscribe only on the subjects its role needs for its node
// (PermissionsFor). The server enforces the publish subject, so the node
// in an event's subject is the node whose agent published it: readers
// drop an event whose source names another node (see Read).

// Role is what an identity is for.
type Role string

const (
	// RoleAgent is a node's agent: it publishes that node's events,
	// creates and updates the events stream and the lease bucket, and
	// reads and writes the leases.
	RoleAgent Role = "agent"
	// RoleReader is `kuma-agent events` and `kuma-agent alerts` on a node:
	// they read the events stream through consumers and acknowledge what
	// they handled, and subscribe to the cluster's events on core NATS
	// (the alerts' live path); they never publish events or write leases, never
	// create, update, purge or delete a stream, and never delete a
	// consumer.
	RoleReader Role = "reader"
	// RoleLeaf is a node's leaf connection to a hub: on the hub it may do
	// what the node's agent and readers may, together, and no more.
	RoleLeaf Role = "leaf"
)

// LeaseBucket is the key-value bucket of the coordination leases
// (lease.DefaultBucket); its stream is "KV_" + LeaseBucket.
const LeaseBucket = "kuma_leases"

// Identity is one user of the embedded servers.
type Identity struct {
	User     string `json:"user"`
	Password string `json:"password"`
	// InboxPrefix is where the replies to its requests come: only it may
	// subscribe there, so nobody else reads or forges them (a forged
	// publish acknowledgement would take an event out of the outbox).
	InboxPrefix string `json:"inbox_prefix"`
}

// Permissions are the subjects an identity may publish to and subscribe
// to; nothing else is allowed. Wildcards as in NATS.
type Permissions struct {
	Publish, Subscribe []string
}

// Scope is what permissions are about: the cluster (events.cluster), the
// node, and the stream and bucket the agents own (defaults:
// DefaultStreamName, LeaseBucket).
type Scope struct {
	Cluster, Node  string
	Stream, Bucket string
}

func (s Scope) withDefaults() Scope {
	if s.Stream == "" {
		s.Stream = DefaultStreamName
	}
	if s.Bucket == "" {
		s.Bucket = LeaseBucket
	}
	return s
}

// nodeKeyLabel and passwordLabel separate the uses of HMAC-SHA256.
const (
	nodeKeyLabel  = "kuma-agent nats node key v1\x00"
	passwordLabel = "kuma-agent nats password v1\x00"
)

// NodeKey is node's key, derived from the cluster secret (the route
// password): HMAC-SHA256(secret, label || node). Every server holding the
// secret derives every node's identities from it; a node's key gives only
// that node's.
func NodeKey(secret []byte, node string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(nodeKeyLabel + node))
	return m.Sum(nil)
}

// NewNodeKey is a random key, for a node without a cluster secret: it is
// kept on disk (root only) so that its identities outlive a restart.
func NewNodeKey() ([]byte, error) {
	k := make([]byte, sha256.Size)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("node key: %w", err)
	}
	return k, nil
}

// IdentityOf is the identity of node's role from the node's key: user
// "kuma-<role>@<node>", password HMAC-SHA256(key, label || role) in
// base64url, inbox prefix "_INBOX.kuma.<role>.<node token>".
func IdentityOf(key []byte, node string, role Role) Identity {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(passwordLabel + string(role)))
	return Identity{
		User:        "kuma-" + string(role) + "@" + node,
		Password:    base64.RawURLEncoding.EncodeToString(m.Sum(nil)),
		InboxPrefix: InboxPrefix(node, role),
	}
}

// InboxPrefix is where node's role gets its replies.
func InboxPrefix(node string, role Role) string {
	return "_INBOX.kuma." + string(role) + "." + events.Token(node)
}

// PermissionsFor is what role may do for s.Node (see the README's
// permission table, which this is).
func PermissionsFor(role Role, s Scope) Permissions {
	s = s.withDefaults()
	st, kv := s.Stream, "KV_"+s.Bucket
	api := "$JS.API."
	inbox := func(r Role) string { return InboxPrefix(s.Node, r) + ".>" }
	switch role {
	case RoleAgent:
		opsPub, opsSub := opsPermissions(s.Cluster, s.Node)
		return Permissions{
			Publish: []string{
				"kuma." + events.Token(s.Cluster) + "." + events.Token(s.Node) + ".>", // its own events
				api + "INFO", // account info: creating a bucket asks for it
				api + "STREAM.CREATE." + st, api + "STREAM.UPDATE." + st, api + "STREAM.INFO." + st,
				api + "STREAM.CREATE." + kv, api + "STREAM.UPDATE." + kv, api + "STREAM.INFO." + kv,
				"$KV." + s.Bucket + ".>",                                                                // lease writes (compare-and-set by header)
				api + "DIRECT.GET." + kv, api + "DIRECT.GET." + kv + ".>", api + "STREAM.MSG.GET." + kv, // lease reads
				opsPub, // ops requests and answers, only as itself (ops.go)
			},
			Subscribe: []string{inbox(RoleAgent), opsSub}, // its inbox; ops messages to it
		}
	case RoleReader:
		return Permissions{
			Publish: []string{
				api + "STREAM.INFO." + st,
				// Its consumers: created (named, with or without a filter in
				// the subject, or the legacy durable form), looked up, pulled
				// from and acknowledged. Never deleted, paused or reset.
				api + "CONSUMER.CREATE." + st, api + "CONSUMER.CREATE." + st + ".>",
				api + "CONSUMER.DURABLE.CREATE." + st + ".*",
				api + "CONSUMER.INFO." + st + ".*",
				api + "CONSUMER.MSG.NEXT." + st + ".*",
				"$JS.ACK." + st + ".>",
			},
			// The events themselves on core NATS (the alerts' live path: no
			// consumer leader between a publish and the subscriber), every
			// node's; publishing them stays the agents'.
			Subscribe: []string{inbox(RoleReader), EventsSubject(s.Cluster)},
		}
	case RoleLeaf:
		a, r := PermissionsFor(RoleAgent, s), PermissionsFor(RoleReader, s)
		return Permissions{Publish: union(a.Publish, r.Publish), Subscribe: union(a.Subscribe, r.Subscribe)}
	}
	return Permissions{} // nothing
}

// EventsSubject is every event of cluster, on core NATS.
func EventsSubject(cluster string) string { return "kuma." + events.Token(cluster) + ".>" }

// union is a's subjects and then b's not in a.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// User is an identity a server accepts, with its permissions.
type User struct {
	Identity
	// Permissions limit it; nil allows every subject (tests only: the
	// agent gives every user its role's permissions).
	Permissions *Permissions
	// Leaf: the user of a leaf connection (accepted on a hub's leafnode
	// listener only, never as a client); else a client (never as a leaf).
	Leaf bool
}

// NodeUsers are the users of a node's own server: its agent and its
// readers, from the node's key.
func NodeUsers(key []byte, s Scope) []User {
	var us []User
	for _, r := range []Role{RoleAgent, RoleReader} {
		p := PermissionsFor(r, s)
		us = append(us, User{Identity: IdentityOf(key, s.Node, r), Permissions: &p})
	}
	return us
}

// LeafUser is the user a hub accepts node's leaf connection as.
func LeafUser(key []byte, s Scope) User {
	p := PermissionsFor(RoleLeaf, s)
	return User{Identity: IdentityOf(key, s.Node, RoleLeaf), Permissions: &p, Leaf: true}
}

func validateUsers(us []User) error {
	if len(us) == 0 {
		return errors.New("nats server: no users: every client must authenticate")
	}
	seen := map[string]bool{}
	for i, u := range us {
		switch {
		case u.User == "" || u.Password == "":
			return fmt.Errorf("nats server: users[%d]: user and password are required", i)
		case seen[u.User]:
			return fmt.Errorf("nats server: users[%d]: user %q given twice", i, u.User)
		}
		seen[u.User] = true
	}
	return nil
}
