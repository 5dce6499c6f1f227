// kuma-agent patch (third_party/README.md): a member's incarnation number,
// for the callers that name one change of a member's state.

package memberlist

// NodeIncarnation is the incarnation number this node knows for the member
// name, and false if it knows no such member. Every node that applies the
// same alive, suspect or dead message holds the same number, so a state
// change and its incarnation name one change cluster-wide: the agent
// derives its member events' ids from it, and each observer's copy of one
// death is then the same event.
func (m *Memberlist) NodeIncarnation(name string) (uint32, bool) {
	m.nodeLock.RLock()
	defer m.nodeLock.RUnlock()
	st, ok := m.nodeMap[name]
	if !ok {
		return 0, false
	}
	return st.Incarnation, true
}
