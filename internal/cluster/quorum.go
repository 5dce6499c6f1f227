package cluster

// Quorum is the majority arithmetic of a consensus group (etcd, Raft).
type Quorum struct {
	Members   int  `json:"members"`  // voters in the group
	Needed    int  `json:"quorum"`   // floor(n/2)+1
	MayFail   int  `json:"may_fail"` // members that may fail while quorum holds
	Healthy   int  `json:"healthy"`  // members known healthy (equals Members when unknown)
	Margin    int  `json:"margin"`   // Healthy - Needed; negative means quorum is lost
	HasQuorum bool `json:"has_quorum"`
}

// QuorumOf computes the quorum of a group of n voters, healthy of them alive.
// quorum = floor(n/2)+1 and tolerated failures = n - quorum, which reproduces
// the controller table of the reference (1:1/0, 2:2/0, 3:2/1, 4:3/1 ...).
func QuorumOf(n, healthy int) Quorum {
	if n <= 0 {
		return Quorum{}
	}
	need := n/2 + 1
	return Quorum{Members: n, Needed: need, MayFail: n - need, Healthy: healthy,
		Margin: healthy - need, HasQuorum: healthy >= need}
}

// SafeToLose reports whether k more members of the group may go down (for a
// restart, say) while quorum still holds. The healing guard uses it.
func (q Quorum) SafeToLose(k int) bool { return q.Healthy-k >= q.Needed }
