package lease

import "sync"

// Holds is what this process holds or is acquiring, by key: the memory
// that tells this node's own records apart from its orphans (records
// naming this node that nothing here holds any more — a release that
// failed on a NATS hiccup, or an agent restarted mid-action).
//
// An orphan must be freed by its own node: by the package's rules nobody
// else may take a record whose holder the mesh calls alive, so one lost
// Delete would otherwise stop every other node's healing for as long as
// the holder lives. One Holds is shared by every Manager of a process
// (an agent makes a new Manager per NATS connection; a lease acquired
// through the old one is still held).
type Holds struct {
	mu        sync.Mutex
	held      map[string]*Lease
	acquiring map[string]int
}

// NewHolds returns an empty Holds.
func NewHolds() *Holds {
	return &Holds{held: map[string]*Lease{}, acquiring: map[string]int{}}
}

// begin marks an Acquire of key in progress, so a sweep that read the
// record before the Acquire registered its lease does not free it.
func (h *Holds) begin(key string) func() {
	h.mu.Lock()
	h.acquiring[key]++
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		if h.acquiring[key]--; h.acquiring[key] <= 0 {
			delete(h.acquiring, key)
		}
		h.mu.Unlock()
	}
}

func (h *Holds) hold(key string, l *Lease) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held[key] = l
}

// drop forgets l; a newer lease of the same key (re-acquired) stays.
func (h *Holds) drop(key string, l *Lease) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held[key] == l {
		delete(h.held, key)
	}
}

// active reports whether key is held or being acquired here.
func (h *Holds) active(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held[key] != nil || h.acquiring[key] > 0
}
