package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// OutOfService is Kubernetes' non-graceful node shutdown taint (GA in
// 1.28): the pods of a Node carrying it are force-deleted and their
// volumes detached at once. Kubernetes documents it only for a node that
// is really down (powered off or unrecoverable).
var OutOfService = Taint{Key: "node.kubernetes.io/out-of-service", Value: "nodeshutdown", Effect: "NoExecute"}

// AppliedByAnnotation marks a taint the agent applied (its value: the
// evaluator and the time), so it removes only its own and never an
// operator's.
const AppliedByAnnotation = "kuma-agent/out-of-service"

// patchOp is one JSON patch (RFC 6902) operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// pointerEscape escapes a key for a JSON pointer (RFC 6901).
func pointerEscape(s string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(s) }

// AddTaint adds taint to the Node read as n (with the annotation note
// under AppliedByAnnotation, when note is not empty) by a JSON patch that
// first tests n's resourceVersion: if the Node changed since it was read,
// the API server refuses the whole patch (IsConflict) and nothing is
// overwritten; the caller reads it again and decides again. A Node that
// already carries the taint is left alone.
func (c *Client) AddTaint(ctx context.Context, n Node, taint Taint, note string) error {
	if n.HasTaint(taint.Key, taint.Effect) {
		return nil
	}
	if n.Metadata.ResourceVersion == "" {
		return fmt.Errorf("kubernetes: taint %s on node %s: the node was read without a resourceVersion", taint.Key, n.Metadata.Name)
	}
	add := Taint{Key: taint.Key, Value: taint.Value, Effect: taint.Effect}
	ops := []patchOp{{Op: "test", Path: "/metadata/resourceVersion", Value: n.Metadata.ResourceVersion}}
	if len(n.Spec.Taints) == 0 {
		ops = append(ops, patchOp{Op: "add", Path: "/spec/taints", Value: []Taint{add}})
	} else {
		ops = append(ops, patchOp{Op: "add", Path: "/spec/taints/-", Value: add})
	}
	if note != "" {
		if n.Metadata.Annotations == nil {
			ops = append(ops, patchOp{Op: "add", Path: "/metadata/annotations", Value: map[string]string{AppliedByAnnotation: note}})
		} else {
			ops = append(ops, patchOp{Op: "add", Path: "/metadata/annotations/" + pointerEscape(AppliedByAnnotation), Value: note})
		}
	}
	return c.patchNode(ctx, n.Metadata.Name, ops)
}

// RemoveTaint removes taint (key and effect) from the Node read as n, and
// the AppliedByAnnotation with it: the patch tests that the entry it
// removes is still that taint at that index (so a concurrent change of the
// list is refused, never a wrong entry removed). A Node without the taint
// is left alone.
func (c *Client) RemoveTaint(ctx context.Context, n Node, taint Taint) error {
	i := -1
	for j, t := range n.Spec.Taints {
		if t.Key == taint.Key && t.Effect == taint.Effect {
			i = j
			break
		}
	}
	if i < 0 {
		return nil
	}
	at := fmt.Sprintf("/spec/taints/%d", i)
	ops := []patchOp{
		{Op: "test", Path: at + "/key", Value: taint.Key},
		{Op: "test", Path: at + "/effect", Value: taint.Effect},
		{Op: "remove", Path: at},
	}
	if _, ok := n.Metadata.Annotations[AppliedByAnnotation]; ok {
		ops = append(ops, patchOp{Op: "remove", Path: "/metadata/annotations/" + pointerEscape(AppliedByAnnotation)})
	}
	return c.patchNode(ctx, n.Metadata.Name, ops)
}

func (c *Client) patchNode(ctx context.Context, name string, ops []patchOp) error {
	body, err := json.Marshal(ops)
	if err != nil {
		return fmt.Errorf("kubernetes: patch of node %s: %w", name, err)
	}
	return c.do(ctx, http.MethodPatch, "/api/v1/nodes/"+url.PathEscape(name), nil, "application/json-patch+json", body, nil)
}

// DeleteNode deletes the Node name (for Acura's dead-member cleanup). A
// Node already gone is not an error.
func (c *Client) DeleteNode(ctx context.Context, name string) error {
	err := c.do(ctx, http.MethodDelete, "/api/v1/nodes/"+url.PathEscape(name), nil, "", nil, nil)
	if IsNotFound(err) {
		return nil
	}
	return err
}
