package supervisor

import (
	"fmt"
	"time"

	"github.com/hostagent/hostagent/compose"
)

// Policy decides what happens after a failure. It is a small synchronous
// type: the runner records facts and asks for a decision.
type Policy struct {
	MaxFailures int
	Base        time.Duration
	Max         time.Duration
	// Restart is compose's `restart:`, layered on the backoff above: unset,
	// always and unless-stopped restart every failure (the default
	// behaviour); on-failure[:N] only non-zero exits, at most N in a row;
	// no never restarts automatically.
	Restart compose.RestartPolicy
}

// DefaultPolicy returns the category defaults: infrastructure 10
// failures / 2 s / 60 s, ai 5 / 5 s / 300 s, monitoring 5 / 10 s / 120 s.
// Application and frontend services are critical like infrastructure (the
// frontend counts as an infrastructure service).
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
	p.Restart = s.RestartPolicy
	return p
}

// policyFor is PolicyFor in its plan: a service others wait on with
// service_completed_successfully and no `restart:` is a one-shot job, so
// it gets compose's default "no" rather than the agent's restart loop.
func policyFor(plan *compose.Plan, ps *compose.PlannedService) Policy {
	p := PolicyFor(ps.Service)
	if p.Restart.Mode != compose.RestartAgent || plan == nil {
		return p
	}
	for _, o := range plan.Services {
		for _, d := range o.Waits {
			if d.Service == ps.Name && d.Condition == compose.ConditionCompleted {
				p.Restart.Mode = compose.RestartNo
				return p
			}
		}
	}
	return p
}

// Delay is the wait before the restart that follows the n-th consecutive
// failure: min(base * 2^(n-1), max): 5, 10, 20, ... 300 for ai services.
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
	// ActionHold: no automatic restart (restart: no, on-failure past its
	// count or after a failed health check); the service stays as it is,
	// reported, until restarted by hand.
	ActionHold
)

func (a Action) String() string {
	switch a {
	case ActionDisable:
		return "disable"
	case ActionHold:
		return "hold"
	}
	return "restart"
}

// Decision is the policy's answer for the n-th consecutive failure.
type Decision struct {
	Action Action
	Delay  time.Duration
	// Reason says why a held service is not restarted.
	Reason string
}

// Completes reports whether an exit with this code is the service's work
// done rather than a failure: a clean exit under restart no or on-failure.
func (p Policy) Completes(exitCode int) bool {
	return exitCode == 0 && !p.Restart.RestartsEveryExit()
}

// DecideFailure applies compose's restart policy to the n-th consecutive
// failure, then the agent's backoff and max failures. unhealthy: a failed
// health check rather than an exit or a failed start.
func (p Policy) DecideFailure(failures int, unhealthy bool) Decision {
	switch p.Restart.Mode {
	case compose.RestartNo:
		return Decision{Action: ActionHold, Reason: "not restarted (restart: no)"}
	case compose.RestartOnFailure:
		if unhealthy {
			return Decision{Action: ActionHold, Reason: "not restarted (restart: on-failure restarts only non-zero exits)"}
		}
		if n := p.Restart.MaxRetries; n > 0 && failures > n {
			return Decision{Action: ActionHold, Reason: fmt.Sprintf("not restarted (restart: %s: %d restarts used)", p.Restart, n)}
		}
	}
	return p.Decide(failures)
}

// Decide: up to MaxFailures consecutive failures are restarted after
// Delay(n); the next one disables the service until it is enabled by hand.
func (p Policy) Decide(failures int) Decision {
	if failures > p.MaxFailures {
		return Decision{Action: ActionDisable}
	}
	return Decision{Action: ActionRestart, Delay: p.Delay(failures)}
}
