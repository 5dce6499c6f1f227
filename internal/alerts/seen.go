package alerts

import (
	"container/list"
	"sync"
)

// seen is the bounded memory of the event ids the subscriber took, from
// either of its paths, so that an event alerts once however many copies
// come: the live copy and the durable copy of every event, and the
// agents' re-publishes of an event JetStream did not acknowledge. It
// forgets the oldest id past max; a copy of a forgotten id alerts again
// (at-least-once), and forgetting one whose durable copy has not come yet
// is counted (forgotten) because that copy will.
type seen struct {
	mu        sync.Mutex
	max       int
	ids       map[string]*entry
	order     *list.List // of *entry, oldest first
	forgotten uint64
	// onForget is told the running count each time an id is forgotten
	// before its durable copy came (under the lock: it must not call back).
	onForget func(total uint64)
}

// entry is one event id: who took it, and how its actions ended.
type entry struct {
	id   string
	elem *list.Element
	// live: the live copy came first (its actions run from it).
	live bool
	// confirmed: a durable copy came (it is, or will be, acknowledged).
	confirmed bool
	// done, handled: the actions finished, and the settlement they asked
	// for (false: cut short by the subscriber's stop).
	done, handled bool
	// waiting are the settlements of durable copies that came while the
	// actions still ran: they follow the actions' outcome.
	waiting []func(handled bool)
}

func newSeen(max int) *seen {
	return &seen{max: max, ids: map[string]*entry{}, order: list.New()}
}

// takeLive reports whether the live copy of id is the first copy: then
// its actions run, and finish must be called when they are done.
func (s *seen) takeLive(id string) (*entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ids[id]; ok {
		return nil, false
	}
	return s.add(id, true), true
}

// takeDurable is the durable copy of id with its settlement. first: its
// actions run, and finish must be called when they are done (settle is
// then called by finish). Otherwise the copy is settled as the first
// copy's actions end: at once if they did, else when they do.
func (s *seen) takeDurable(id string, settle func(bool)) (e *entry, first bool) {
	s.mu.Lock()
	e, ok := s.ids[id]
	if !ok {
		e = s.add(id, false)
		e.confirmed = true
		e.waiting = append(e.waiting, settle)
		s.mu.Unlock()
		return e, true
	}
	e.confirmed = true
	if !e.done {
		e.waiting = append(e.waiting, settle)
		s.mu.Unlock()
		return e, false
	}
	handled := e.handled
	s.mu.Unlock()
	settle(handled)
	return e, false
}

// finish records that e's actions are done and settles the durable copies
// that waited. Cut short (not handled), e is forgotten: a later copy runs
// the actions again.
func (s *seen) finish(e *entry, handled bool) {
	s.mu.Lock()
	e.done, e.handled = true, handled
	waiting := e.waiting
	e.waiting = nil
	if !handled && s.ids[e.id] == e {
		s.order.Remove(e.elem)
		delete(s.ids, e.id)
	}
	s.mu.Unlock()
	for _, settle := range waiting {
		settle(handled)
	}
}

// add remembers id, forgetting the oldest past max. Lock held.
func (s *seen) add(id string, live bool) *entry {
	e := &entry{id: id, live: live}
	e.elem = s.order.PushBack(e)
	s.ids[id] = e
	for s.order.Len() > s.max {
		old := s.order.Remove(s.order.Front()).(*entry)
		delete(s.ids, old.id)
		if old.live && !old.confirmed {
			s.forgotten++
			if s.onForget != nil {
				s.onForget(s.forgotten)
			}
		}
	}
	return e
}

// counts are the ids remembered and the forgotten unconfirmed ones.
func (s *seen) counts() (remembered int, forgotten uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.order.Len(), s.forgotten
}
