package kube

import (
	"context"
	"net/url"
	"time"
)

// Meta is the part of an object's metadata the agent reads.
type Meta struct {
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace,omitempty"`
	ResourceVersion   string            `json:"resourceVersion,omitempty"`
	CreationTimestamp time.Time         `json:"creationTimestamp"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	DeletionTimestamp *time.Time        `json:"deletionTimestamp,omitempty"`
}

// Condition is a status condition (Nodes, Pods, Longhorn nodes and disks).
type Condition struct {
	Type               string    `json:"type"`
	Status             string    `json:"status"` // "True", "False", "Unknown"
	Reason             string    `json:"reason,omitempty"`
	Message            string    `json:"message,omitempty"`
	LastTransitionTime time.Time `json:"lastTransitionTime"`
}

// FindCondition is the condition of type t, if listed.
func FindCondition(cs []Condition, t string) (Condition, bool) {
	for _, c := range cs {
		if c.Type == t {
			return c, true
		}
	}
	return Condition{}, false
}

// Taint is a Node taint.
type Taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"`
	// TimeAdded is set by the API server for NoExecute taints.
	TimeAdded *time.Time `json:"timeAdded,omitempty"`
}

// Node is a Kubernetes Node, as far as the checks read it.
type Node struct {
	Metadata Meta `json:"metadata"`
	Spec     struct {
		Taints        []Taint `json:"taints,omitempty"`
		Unschedulable bool    `json:"unschedulable,omitempty"`
	} `json:"spec"`
	Status struct {
		Conditions []Condition `json:"conditions,omitempty"`
	} `json:"status"`
}

// Ready is the Node's Ready condition status: "True", "False", "Unknown"
// (the node controller's verdict on a silent kubelet) or "" (none yet).
func (n Node) Ready() string {
	c, _ := FindCondition(n.Status.Conditions, "Ready")
	return c.Status
}

// HasTaint reports whether the Node carries a taint of key and effect.
func (n Node) HasTaint(key, effect string) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key && t.Effect == effect {
			return true
		}
	}
	return false
}

// Pod is a Kubernetes Pod, as far as the checks read it.
type Pod struct {
	Metadata Meta `json:"metadata"`
	Spec     struct {
		NodeName string `json:"nodeName,omitempty"`
	} `json:"spec"`
	Status struct {
		Phase      string      `json:"phase,omitempty"`
		Reason     string      `json:"reason,omitempty"`
		Conditions []Condition `json:"conditions,omitempty"`
		StartTime  *time.Time  `json:"startTime,omitempty"`
	} `json:"status"`
}

// LonghornVolume is a volumes.longhorn.io object (v1beta2).
type LonghornVolume struct {
	Metadata Meta `json:"metadata"`
	Spec     struct {
		NumberOfReplicas int `json:"numberOfReplicas"`
	} `json:"spec"`
	Status struct {
		State         string `json:"state"`      // creating, attached, detached, attaching, detaching, deleting
		Robustness    string `json:"robustness"` // unknown, healthy, degraded, faulted
		CurrentNodeID string `json:"currentNodeID"`
	} `json:"status"`
}

// LonghornNode is a nodes.longhorn.io object (v1beta2): its conditions and
// its disks' conditions.
type LonghornNode struct {
	Metadata Meta `json:"metadata"`
	Status   struct {
		Conditions []Condition `json:"conditions"`
		DiskStatus map[string]struct {
			Conditions []Condition `json:"conditions"`
		} `json:"diskStatus"`
	} `json:"status"`
}

// ListOptions select what a list returns (empty: everything).
type ListOptions struct {
	LabelSelector string
	FieldSelector string
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.LabelSelector != "" {
		q.Set("labelSelector", o.LabelSelector)
	}
	if o.FieldSelector != "" {
		q.Set("fieldSelector", o.FieldSelector)
	}
	return q
}

// LonghornNamespace is where Longhorn keeps its CRs.
const LonghornNamespace = "longhorn-system"

// Nodes lists the cluster's Nodes.
func (c *Client) Nodes(ctx context.Context, o ListOptions) ([]Node, error) {
	var l struct{ Items []Node }
	err := c.get(ctx, "/api/v1/nodes", o.query(), &l)
	return l.Items, err
}

// Node reads one Node.
func (c *Client) Node(ctx context.Context, name string) (Node, error) {
	var n Node
	err := c.get(ctx, "/api/v1/nodes/"+url.PathEscape(name), nil, &n)
	return n, err
}

// Pods lists the Pods of namespace ("" = every namespace).
func (c *Client) Pods(ctx context.Context, namespace string, o ListOptions) ([]Pod, error) {
	path := "/api/v1/pods"
	if namespace != "" {
		path = "/api/v1/namespaces/" + url.PathEscape(namespace) + "/pods"
	}
	var l struct{ Items []Pod }
	err := c.get(ctx, path, o.query(), &l)
	return l.Items, err
}

// LonghornVolumes lists volumes.longhorn.io in longhorn-system.
func (c *Client) LonghornVolumes(ctx context.Context) ([]LonghornVolume, error) {
	var l struct{ Items []LonghornVolume }
	err := c.get(ctx, "/apis/longhorn.io/v1beta2/namespaces/"+LonghornNamespace+"/volumes", nil, &l)
	return l.Items, err
}

// LonghornNodes lists nodes.longhorn.io in longhorn-system.
func (c *Client) LonghornNodes(ctx context.Context) ([]LonghornNode, error) {
	var l struct{ Items []LonghornNode }
	err := c.get(ctx, "/apis/longhorn.io/v1beta2/namespaces/"+LonghornNamespace+"/nodes", nil, &l)
	return l.Items, err
}
