package natsbus

import (
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// The operations channel between agents (kuma-agent raft ... --execute):
// core NATS messages on
//
//	kuma-ops.<cluster>.<kind>.<to>.<from>
//
// kind "req" (a request) or "rep" (its answer), <to> the node the message
// is for, <from> the node whose agent sent it (names as events.Token).
// Each agent may publish only subjects whose last token is its own node
// and subscribe only to those whose <to> is its own node
// (PermissionsFor), so the server proves who sent a message: a receiver
// reads the sender from the subject, never from the payload. Answers are
// not NATS replies (an inbox), so no identity needs to publish into
// another's inbox.
const opsPrefix = "kuma-ops."

// Kinds of ops messages.
const (
	OpsRequest = "req"
	OpsReply   = "rep"
)

// OpsSubject is the subject of an ops message of kind from node from to
// node to in cluster.
func OpsSubject(cluster, kind, to, from string) string {
	return opsPrefix + events.Token(cluster) + "." + kind + "." + events.Token(to) + "." + events.Token(from)
}

// OpsInbox is every ops message of kind for node (what its agent
// subscribes to).
func OpsInbox(cluster, kind, node string) string {
	return opsPrefix + events.Token(cluster) + "." + kind + "." + events.Token(node) + ".*"
}

// ParseOpsSubject splits an ops subject of cluster into its kind, its
// addressee and its sender tokens; ok is false for any other subject.
func ParseOpsSubject(cluster, subject string) (kind, to, from string, ok bool) {
	rest, found := strings.CutPrefix(subject, opsPrefix+events.Token(cluster)+".")
	parts := strings.Split(rest, ".")
	if !found || len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// opsPermissions: an agent publishes ops messages only as itself and
// receives only those addressed to it.
func opsPermissions(cluster, node string) (pub, sub string) {
	c, n := events.Token(cluster), events.Token(node)
	return opsPrefix + c + ".*.*." + n, opsPrefix + c + ".*." + n + ".*"
}
