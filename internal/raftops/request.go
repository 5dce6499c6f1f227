package raftops

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// MaxMessage bounds a request or an answer on the wire.
const MaxMessage = 4 << 10

// Request asks a node's agent for one step. Values only: the agent maps
// procedure and step to what it does (Table); nothing here is a command
// or a path.
type Request struct {
	Operation string `json:"operation"` // the operation id (events, logs)
	Procedure string `json:"procedure"`
	Step      string `json:"step"`
	Node      string `json:"node"`           // the node the step is for: the addressee
	CoreID    string `json:"core_id"`        // its Core's service ID as the coordinator saw it
	Seed      string `json:"seed,omitempty"` // restore-cluster: the chosen node
}

// Reply is a target's answer. Exactly one of Result (done) and Reason
// (refused or failed) is set.
type Reply struct {
	Operation string `json:"operation"`
	Step      string `json:"step"`
	OK        bool   `json:"ok"`
	Result    string `json:"result,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// DecodeRequest reads a request strictly: one JSON object, known fields
// only, at most MaxMessage bytes.
func DecodeRequest(b []byte) (Request, error) {
	var r Request
	return r, decodeStrict(b, &r)
}

// DecodeReply reads an answer strictly.
func DecodeReply(b []byte) (Reply, error) {
	var r Reply
	return r, decodeStrict(b, &r)
}

func decodeStrict(b []byte, v any) error {
	if len(b) > MaxMessage {
		return fmt.Errorf("message is %d bytes, limit %d", len(b), MaxMessage)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("malformed message: %w", err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return errors.New("malformed message: data after the object")
	}
	return nil
}

// Validate checks every value of r: procedure and step from the table,
// node names the inventory's (nodes), the Core ID and the operation id
// plain words. A value with a path separator, a shell metacharacter, a
// control character or anything else outside its shape is refused with
// the field named.
func (r Request) Validate(nodes []string) error {
	d, ok := Lookup(r.Procedure, r.Step)
	if !ok {
		return fmt.Errorf("procedure %q step %q: not in the step table", r.Procedure, r.Step)
	}
	if !plainWord(r.Operation, 64) {
		return fmt.Errorf("operation: %q is not a plain id ([A-Za-z0-9-], 1-64 bytes)", r.Operation)
	}
	if !plainWord(r.CoreID, 64) {
		return fmt.Errorf("core_id: %q is not a KUMA service ID ([A-Za-z0-9-], 1-64 bytes)", r.CoreID)
	}
	if err := inventoryNode("node", r.Node, nodes); err != nil {
		return err
	}
	switch {
	case d.Procedure == ProcRestoreCluster:
		if err := inventoryNode("seed", r.Seed, nodes); err != nil {
			return err
		}
		if !d.Any && d.Seed && r.Node != r.Seed {
			return fmt.Errorf("step %s runs on the chosen node %s only, not on %s", r.Step, r.Seed, r.Node)
		}
		if !d.Any && !d.Seed && r.Node == r.Seed {
			return fmt.Errorf("step %s never runs on the chosen node %s", r.Step, r.Seed)
		}
	case r.Seed != "":
		return fmt.Errorf("seed: %s takes none", r.Procedure)
	}
	return nil
}

func inventoryNode(field, name string, nodes []string) error {
	if err := cluster.CheckHostName(name); err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	if !slices.Contains(nodes, name) {
		return fmt.Errorf("%s: %s is no node of the inventory", field, name)
	}
	return nil
}

// plainWord: letters, digits and '-', 1..max bytes.
func plainWord(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
