package supervisor

import (
	"context"
	"slices"
	"time"

	"github.com/hostagent/hostagent/state"
)

// update stores a runner's snapshot and, with a message, records the event
// in the same critical section, so a reader never sees a status whose event
// is not in the history yet.
func (s *Supervisor) update(st ServiceStatus, v depView, msg string) {
	s.emitMu.Lock()
	defer s.emitMu.Unlock()
	s.mu.Lock()
	prev, had := s.views[st.Name]
	if _, live := s.runners[st.Name]; live {
		s.statuses[st.Name] = st
		s.views[st.Name] = v
	}
	ev, subs := s.recordLocked(st, msg)
	s.mu.Unlock()
	s.deliver(ev, subs)
	if !had || prev != v {
		s.pokeAll()
	}
}

// emit records an event and hands it to every subscriber without waiting.
func (s *Supervisor) emit(st ServiceStatus, msg string) {
	s.emitMu.Lock()
	defer s.emitMu.Unlock()
	s.mu.Lock()
	ev, subs := s.recordLocked(st, msg)
	s.mu.Unlock()
	s.deliver(ev, subs)
}

// recordLocked appends an event to the history (nil for no message).
func (s *Supervisor) recordLocked(st ServiceStatus, msg string) (*Event, []chan Event) {
	if msg == "" {
		return nil, nil
	}
	s.seq++
	ev := Event{Type: EventTypeServiceStatus, Data: st, Message: msg, Time: s.clock.Now(), Seq: s.seq}
	s.history = append(s.history, ev)
	if len(s.history) > s.cfg.EventHistory {
		s.history = slices.Delete(s.history, 0, len(s.history)-s.cfg.EventHistory)
	}
	subs := make([]chan Event, 0, len(s.subs))
	for _, c := range s.subs {
		subs = append(subs, c)
	}
	return &ev, subs
}

// deliver hands an event out; the caller holds emitMu, which keeps
// delivery in sequence order across services.
func (s *Supervisor) deliver(ev *Event, subs []chan Event) {
	if ev == nil {
		return
	}
	s.log.Debug("event", "service", ev.Data.Name, "status", ev.Data.Status.String(), "message", ev.Message)
	for _, c := range subs {
		select {
		case c <- *ev:
		default: // a slow subscriber never blocks supervision
		}
	}
	s.publishToStore(*ev)
}

func (s *Supervisor) publishToStore(ev Event) {
	pub, ok := s.store.(state.Publisher)
	if !ok {
		return
	}
	data, err := marshalEvent(ev)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = pub.Publish(ctx, data)
}

// pokeAll tells every runner that a dependency's state changed, and the
// start queue, which may be holding a slot for a service that changed.
func (s *Supervisor) pokeAll() {
	s.mu.Lock()
	for _, r := range s.runners {
		select {
		case r.poke <- struct{}{}:
		default:
		}
	}
	s.mu.Unlock()
	s.starts.reconsider()
}

// Events returns up to limit recent events, oldest first.
func (s *Supervisor) Events(limit int) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	if limit <= 0 || limit > len(s.history) {
		limit = len(s.history)
	}
	return append([]Event(nil), s.history[len(s.history)-limit:]...)
}

// Subscribe returns a channel of every event from now on, buffered by buf;
// a subscriber that falls behind loses events rather than slowing the
// supervisor. Call the returned func to unsubscribe.
func (s *Supervisor) Subscribe(buf int) (<-chan Event, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextSub
	s.nextSub++
	c := make(chan Event, max(buf, 1))
	s.subs[id] = c
	return c, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.subs, id)
	}
}
