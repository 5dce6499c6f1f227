package mesh

import (
	"context"
	"log/slog"
	"maps"
	"math/bits"
	"time"

	"github.com/hashicorp/serf/serf"
)

// Member is one agent as seen by the local agent.
type Member struct {
	Name string
	Addr string
	Port uint16
	// Status is alive, leaving, left or failed.
	Status string
	Tags   map[string]string
	// Incarnation is memberlist's incarnation number of the member when
	// the event was read (in member events only; 0: not known, as for a
	// member memberlist has forgotten). Every node that applied the same
	// change holds the same number: with the member's name and the event's
	// type it names one change cluster-wide (the agent's member event ids).
	Incarnation uint32
}

// MemberEvent reports a change of one or more members.
type MemberEvent struct {
	// Type is join, leave, failed, update or reap.
	Type    string
	Members []Member
	// Time is when the local agent learned of the change.
	Time time.Time
}

// EventSink receives member events. It is called from one goroutine, in
// order; a slow sink makes events be dropped (see Stats), never blocks
// gossip.
type EventSink interface {
	HandleMemberEvent(MemberEvent)
}

// eventTypes names serf's member event types.
var eventTypes = map[serf.EventType]string{
	serf.EventMemberJoin:   "join",
	serf.EventMemberLeave:  "leave",
	serf.EventMemberFailed: "failed",
	serf.EventMemberUpdate: "update",
	serf.EventMemberReap:   "reap",
}

// memberStatuses names serf's member statuses (serf's own String panics on
// unknown values).
var memberStatuses = map[serf.MemberStatus]string{
	serf.StatusNone:    "none",
	serf.StatusAlive:   "alive",
	serf.StatusLeaving: "leaving",
	serf.StatusLeft:    "left",
	serf.StatusFailed:  "failed",
}

// eventLevels logs bad news louder than routine changes.
var eventLevels = map[string]slog.Level{
	"join":   slog.LevelInfo,
	"leave":  slog.LevelInfo,
	"failed": slog.LevelWarn,
	"update": slog.LevelInfo,
	"reap":   slog.LevelInfo,
}

func toMember(s serf.Member) Member {
	status, ok := memberStatuses[s.Status]
	if !ok {
		status = "unknown"
	}
	return Member{
		Name:   s.Name,
		Addr:   s.Addr.String(),
		Port:   s.Port,
		Status: status,
		Tags:   maps.Clone(s.Tags),
	}
}

func toMemberEvent(e serf.MemberEvent, at time.Time) MemberEvent {
	typ, ok := eventTypes[e.Type]
	if !ok {
		typ = "unknown"
	}
	out := MemberEvent{Type: typ, Time: at, Members: make([]Member, 0, len(e.Members))}
	for _, m := range e.Members {
		out.Members = append(out.Members, toMember(m))
	}
	return out
}

// readEvents drains serf's event channel until serf shuts down. It must
// never block for long: serf sends on the channel synchronously from its
// gossip handlers.
func (m *Mesh) readEvents(ch <-chan serf.Event) {
	defer close(m.readerDone)
	tick := time.NewTicker(m.hb.Every())
	defer tick.Stop()
	for {
		select {
		case <-tick.C: // waiting for events is progress too
			m.hb.Beat()
		case e := <-ch:
			m.handleEvent(e)
			m.hb.Beat()
		case <-m.serf.ShutdownCh():
			// Shut down on purpose (Shutdown, or Leave from the control
			// socket while the agent goes on): silence is not a stall.
			m.hb.Retire()
			for {
				select {
				case e := <-ch:
					m.handleEvent(e)
				default:
					return
				}
			}
		}
	}
}

func (m *Mesh) handleEvent(e serf.Event) {
	switch ev := e.(type) {
	case serf.MemberEvent:
		me := toMemberEvent(ev, m.now())
		m.addIncarnations(&me)
		m.handleMemberEvent(me)
	case *serf.Query:
		m.handleQuery(ev)
	default:
		// User events are not part of this package's protocol.
		m.log.Debug("gossip event ignored", "event", e.String())
	}
}

// addIncarnations fills in each member's incarnation as memberlist holds
// it now. serf hands the event over while memberlist applies the change
// (under its lock), so this reads the number of that change unless a newer
// one came in meanwhile: then the event gets the newer number, which costs
// a second copy of the event downstream (ids differ), never a lost one.
func (m *Mesh) addIncarnations(ev *MemberEvent) {
	ml := m.serf.Memberlist()
	for i := range ev.Members {
		if inc, ok := ml.NodeIncarnation(ev.Members[i].Name); ok {
			ev.Members[i].Incarnation = inc
		}
	}
}

func (m *Mesh) handleMemberEvent(ev MemberEvent) {
	m.gate.track(ev)
	for _, mem := range ev.Members {
		m.log.Log(context.Background(), eventLevels[ev.Type], "gossip member event",
			"event", ev.Type, "member", mem.Name, "addr", mem.Addr, "port", mem.Port, "status", mem.Status)
	}
	if m.sink == nil {
		return
	}
	select {
	case m.sinkCh <- ev:
	default:
		n := m.eventDrops.Add(1)
		// Log on powers of two so an event storm cannot turn into a log storm.
		if bits.OnesCount64(n) == 1 {
			m.log.Warn("gossip event sink is slow, member events dropped", "dropped_total", n)
		}
	}
}

// dispatch hands queued events to the sink until the queue is closed.
func (m *Mesh) dispatch() {
	defer close(m.dispatchDone)
	for ev := range m.sinkCh {
		m.sink.HandleMemberEvent(ev)
	}
}
