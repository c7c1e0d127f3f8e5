package supervisor

import "fmt"

// EngineWide is an Engine that can tell a condition of the whole engine
// (it cannot start any container: the network backend's firewall tool or
// the OCI runtime is missing) from one of a single service. The supervisor
// reports such a condition once, for the host: in Progress, in the health
// endpoint and as one log line, not as one warning per service.
type EngineWide interface {
	EngineWide(err error) bool
}

// engineWide reports whether err is a condition of the whole engine.
func (s *Supervisor) engineWide(err error) bool {
	w, ok := s.engine.(EngineWide)
	return ok && err != nil && w.EngineWide(err)
}

// logHostCondition writes the one journal line for an engine-wide
// condition when it appears or changes, and one when it clears; the
// services' own lines about it are at debug level.
func (s *Supervisor) logHostCondition(p Progress) {
	s.mu.Lock()
	prev := s.loggedHostCond
	s.loggedHostCond = p.HostCondition
	s.mu.Unlock()
	switch {
	case p.HostCondition == prev:
	case p.HostCondition != "":
		s.log.Warn(fmt.Sprintf("Host condition: %s; no container can start until it is fixed (services retry with backoff)", p.HostCondition),
			"waiting", p.Total-p.Running-p.Completed)
	default:
		s.log.Info("Host condition cleared: the engine starts containers again", "was", prev)
	}
}
