package supervisor

import (
	"time"

	"github.com/hostagent/hostagent/compose"
)

// Policy decides what happens after a failure. It is a small synchronous
// type: the runner records facts and asks for a decision.
type Policy struct {
	MaxFailures int
	Base        time.Duration
	Max         time.Duration
}

// DefaultPolicy returns the seed's category defaults: infrastructure 10
// failures / 2 s / 60 s, ai 5 / 5 s / 300 s, monitoring 5 / 10 s / 120 s.
// Application and frontend services are critical like infrastructure (the
// seed lists the frontend among infrastructure services).
func DefaultPolicy(c compose.Category) Policy {
	switch c {
	case compose.AI:
		return Policy{MaxFailures: 5, Base: 5 * time.Second, Max: 300 * time.Second}
	case compose.Monitoring:
		return Policy{MaxFailures: 5, Base: 10 * time.Second, Max: 120 * time.Second}
	default:
		return Policy{MaxFailures: 10, Base: 2 * time.Second, Max: 60 * time.Second}
	}
}

// PolicyFor applies a service's x-hostagent overrides to its defaults.
func PolicyFor(s *compose.Service) Policy {
	p := DefaultPolicy(s.Category)
	if s.Restart.MaxFailures > 0 {
		p.MaxFailures = s.Restart.MaxFailures
	}
	if s.Restart.BackoffBase > 0 {
		p.Base = s.Restart.BackoffBase
	}
	if s.Restart.BackoffMax > 0 {
		p.Max = s.Restart.BackoffMax
	}
	if p.Max < p.Base {
		p.Max = p.Base
	}
	return p
}

// Delay is the wait before the restart that follows the n-th consecutive
// failure: min(base * 2^(n-1), max), the seed's table 5, 10, 20, ... 300.
func (p Policy) Delay(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	d := p.Base
	for i := 1; i < n; i++ {
		if d >= p.Max {
			return p.Max
		}
		d *= 2
	}
	return min(d, p.Max)
}

// Action is what to do after a failure.
type Action int

const (
	ActionRestart Action = iota
	ActionDisable
)

func (a Action) String() string {
	if a == ActionDisable {
		return "disable"
	}
	return "restart"
}

// Decision is the policy's answer for the n-th consecutive failure.
type Decision struct {
	Action Action
	Delay  time.Duration
}

// Decide: up to MaxFailures consecutive failures are restarted after
// Delay(n); the next one disables the service until it is enabled by hand.
func (p Policy) Decide(failures int) Decision {
	if failures > p.MaxFailures {
		return Decision{Action: ActionDisable}
	}
	return Decision{Action: ActionRestart, Delay: p.Delay(failures)}
}
