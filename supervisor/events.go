package supervisor

// update stores a runner's snapshot and, with a message, records the event
// in the same critical section, so a reader never sees a status whose event
// is not in the history yet.
func (s *Supervisor) update(st ServiceStatus, v depView, msg string) {
	s.bus.order.Lock()
	defer s.bus.order.Unlock()
	s.mu.Lock()
	prev, had := s.board.view(st.Name)
	if _, live := s.runners[st.Name]; live {
		s.statuses[st.Name] = st
		s.board.set(st.Name, v)
	}
	ev, subs := s.bus.record(st, msg)
	s.mu.Unlock()
	s.bus.deliver(ev, subs)
	if !had || prev != v {
		s.pokeAll()
	}
}

// emit records an event and hands it to every subscriber without waiting.
func (s *Supervisor) emit(st ServiceStatus, msg string) {
	s.bus.order.Lock()
	defer s.bus.order.Unlock()
	ev, subs := s.bus.record(st, msg)
	s.bus.deliver(ev, subs)
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
func (s *Supervisor) Events(limit int) []Event { return s.bus.recent(limit) }

// Subscribe returns a channel of every event from now on, buffered by buf;
// a subscriber that falls behind loses events rather than slowing the
// supervisor. Call the returned func to unsubscribe.
func (s *Supervisor) Subscribe(buf int) (<-chan Event, func()) { return s.bus.subscribe(buf) }
