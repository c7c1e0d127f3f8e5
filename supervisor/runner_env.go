package supervisor

import (
	"context"
	"sync"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/gpu"
	"github.com/hostagent/hostagent/internal/clock"
	"github.com/hostagent/hostagent/state"
)

// runnerEnv is all a runner sees of the supervisor: its three parts, each
// through a narrow interface, and the collaborators it calls itself.
type runnerEnv struct {
	bus   statusBus       // the event bus, with the status snapshot
	board dependencyBoard // the board
	act   startActuator   // the actuator
	crew  crew            // the other runners

	engine     Engine
	engineWide func(error) bool
	exits      ExitWatcher
	probes     ProberFactory
	// policy is a service's restart policy under the plan being run.
	policy  func(*compose.PlannedService) Policy
	redact  func(string) string
	clock   clock.Clock
	metrics metricsHook
	// wg counts the goroutines that must end before Run returns.
	wg *sync.WaitGroup
}

// statusBus publishes a runner's snapshot (status, view) with its event,
// and saves what must survive an agent restart.
type statusBus interface {
	update(st ServiceStatus, v depView, msg string)
	save(ctx context.Context, rec state.Record)
}

// dependencyBoard answers what a runner asks of the other services.
type dependencyBoard interface {
	dependenciesMet(svc *compose.PlannedService) (bool, []string)
	gpuAhead(svc *compose.PlannedService) string
}

// startActuator runs a runner's starts, restarts and recreates.
type startActuator interface {
	reserve(svc *compose.PlannedService, kind actionKind, learned uint64) *gpu.Ticket
	act(ctx context.Context, o actionOwner, svc *compose.PlannedService, kind actionKind, ctr Container, ticket *gpu.Ticket) actionResult
}

// crew is what a runner tells the other runners: something changed
// (pokeAll), a restarted service is healthy again (cascade to its
// restart: true dependents), a container is now the runner's.
type crew interface {
	pokeAll()
	cascade(name string)
	bindContainer(r *runner, old, id string)
}

// runnerEnv is the environment the supervisor gives its runners.
func (s *Supervisor) runnerEnv() runnerEnv {
	return runnerEnv{
		bus: s, board: s.board, act: s.act, crew: s,
		engine: s.engine, engineWide: s.engineWide, exits: s.exits, probes: s.probes,
		policy: func(svc *compose.PlannedService) Policy {
			_, plan := s.current()
			return policyFor(plan, svc)
		},
		redact: s.redact, clock: s.clock, metrics: s.metrics, wg: &s.wg,
	}
}
