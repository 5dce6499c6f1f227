package supervisor

import "sync"

// stats keeps the reaction times of started actions, for the metrics
// endpoint and the figures.
type stats struct {
	mu        sync.Mutex
	reactions []float64 // milliseconds, most recent last, bounded
}

const maxReactions = 256

func (st *stats) reaction(ms float64) {
	if ms <= 0 {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.reactions = append(st.reactions, ms)
	if len(st.reactions) > maxReactions {
		st.reactions = st.reactions[len(st.reactions)-maxReactions:]
	}
}

// Reactions returns the recent reaction times in milliseconds.
func (s *Supervisor) Reactions() []float64 {
	s.metrics.mu.Lock()
	defer s.metrics.mu.Unlock()
	return append([]float64(nil), s.metrics.reactions...)
}
