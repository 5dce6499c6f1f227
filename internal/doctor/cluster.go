package doctor

import "time"

// ClusterHost is the host of the cluster-wide findings in a ClusterReport.
const ClusterHost = "cluster"

// ClusterReport is `doctor --cluster --format json`: the cluster
// evaluation (the evaluator's latest, or a fresh one) with every finding in
// the one Finding shape of Report, so a script reads `doctor --format json`
// and `doctor --cluster --format json` alike: each node's findings (host:
// the node) and the cluster-wide ones (host: "cluster", area: cluster).
type ClusterReport struct {
	Self        string    `json:"self"`         // the node asked
	Evaluator   string    `json:"evaluator"`    // the node that evaluated
	EvaluatedAt time.Time `json:"evaluated_at"` // when
	AgeSeconds  float64   `json:"age_seconds"`  // its age when asked
	Fresh       bool      `json:"fresh"`        // gathered for this request (--fresh, or no evaluation yet)
	Note        string    `json:"note,omitempty"`
	Nodes       []string  `json:"nodes"`      // the nodes whose findings are listed
	Unanswered  []string  `json:"unanswered"` // members that did not answer (a warning)
	Findings    []Finding `json:"findings"`
	// Summary counts the findings; its status is the report's verdict,
	// which also counts an unanswered node as a warning.
	Summary Summary `json:"summary"`
}

// Cluster is the cluster-wide finding of check, if listed.
func (r ClusterReport) Cluster(check string) (Finding, bool) {
	for _, f := range r.Findings {
		if f.Host == ClusterHost && f.Check == check {
			return f, true
		}
	}
	return Finding{}, false
}
