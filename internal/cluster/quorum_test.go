package cluster

import "testing"

func TestQuorumTableOfReference(t *testing.T) {
	// kuma-ha.md section 1a: controllers -> quorum, may fail.
	table := [][3]int{{1, 1, 0}, {2, 2, 0}, {3, 2, 1}, {4, 3, 1}, {5, 3, 2}, {6, 4, 2}, {7, 4, 3}, {8, 5, 3}, {9, 5, 4}}
	for _, row := range table {
		q := QuorumOf(row[0], row[0])
		if q.Needed != row[1] || q.MayFail != row[2] || !q.HasQuorum || q.Margin != row[0]-row[1] {
			t.Errorf("n=%d: got %+v, want quorum %d may fail %d", row[0], q, row[1], row[2])
		}
	}
}

func TestQuorumGuard(t *testing.T) {
	q := QuorumOf(3, 3)
	if !q.SafeToLose(1) || q.SafeToLose(2) {
		t.Errorf("3 healthy of 3: %+v", q)
	}
	q = QuorumOf(3, 2)
	if q.SafeToLose(1) || !q.HasQuorum {
		t.Errorf("2 healthy of 3 must not lose another: %+v", q)
	}
	if q := QuorumOf(5, 2); q.HasQuorum || q.Margin != -1 {
		t.Errorf("2 of 5: %+v", q)
	}
	if q := QuorumOf(0, 0); q.HasQuorum {
		t.Errorf("empty group has quorum: %+v", q)
	}
}
