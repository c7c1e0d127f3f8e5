package supervisor

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/gpu"
	"github.com/hostagent/hostagent/state"
)

// runner is the one goroutine that owns a service's state: it feeds the
// service's machine the facts that come in (commands, engine events, probe
// results, action results, pokes, one timer) and carries out the effects
// it returns. Long work (engine calls, probes, the GPU gate) runs in
// goroutines that report back, so the runner always answers.
type runner struct {
	machine
	env   runnerEnv
	probe Prober

	cmds    chan command
	events  chan EngineEvent
	probed  chan probeOutcome
	acted   chan actionResult
	learned chan uint64
	poke    chan struct{}
	// notes carries pull and build progress from the action in flight.
	notes chan string

	cancel    context.CancelFunc
	ctx       context.Context    // the runner's own, for watches it starts
	stopWatch context.CancelFunc // ends the exit watch of the current container
	// ticket is the GPU gate's place reserved for the action about to run.
	ticket *gpu.Ticket
	// wakes counts timer wakeups; a runner that spins shows it here.
	wakes atomic.Int64
	// behind: dispatch dropped an event for this runner (catchUp).
	behind atomic.Bool
	// box: the last checks and facts for Detail (detail.go).
	box detailBox
}

type commandKind int

const (
	cmdRestart commandKind = iota
	cmdEnable
	cmdDisable
	cmdQuiesce
	cmdUpdate
	cmdRecreate
	cmdUserStop
	cmdUserStart
)

type command struct {
	kind   commandKind
	reset  bool   // restart: reset the failure count
	reason string // restart: why (manual, dependency)
	manual bool
	// update: the service's new definition after a reload; reason (update,
	// recreate) says why its container is outdated, "" when current.
	svc *compose.PlannedService
	// pol is the new definition's policy (update).
	pol   Policy
	reply chan error
}

type probeOutcome struct {
	gen int
	res ProbeResult
}

type actionKind int

const (
	actStart actionKind = iota
	actRestart
	// actRecreate replaces an outdated container (Reload).
	actRecreate
)

type actionResult struct {
	kind   actionKind
	ctr    Container
	err    error
	slot   *gpu.Slot
	manual bool
}

func newRunner(s *Supervisor, plan *compose.Plan, svc *compose.PlannedService, existing *Container, rec *state.Record) *runner {
	r := &runner{
		env:     s.runnerEnv(),
		probe:   s.probes(svc.Service),
		cmds:    make(chan command, 8),
		events:  make(chan EngineEvent, 32),
		probed:  make(chan probeOutcome, 1),
		acted:   make(chan actionResult, 1),
		learned: make(chan uint64, 1),
		poke:    make(chan struct{}, 1),
		notes:   make(chan string, 1),
	}
	r.machine = machine{
		svc:     svc,
		pol:     policyFor(plan, svc),
		cfg:     s.cfg,
		log:     s.log.With("service", svc.Name),
		w:       runnerWorld{r},
		enabled: true,
		st:      NotFound,
	}
	r.restore(s.clock.Now(), existing, rec)
	return r
}

func (r *runner) run(ctx context.Context) {
	r.ctx = ctx
	timer := r.env.clock.NewTimer(time.Hour)
	defer timer.Stop()
	r.watchExit(r.ctr)
	r.exec(ctx, r.begun(r.env.clock.Now()))
	for {
		if !timer.Stop() {
			select {
			case <-timer.C():
			default:
			}
		}
		timer.Reset(r.nextWake(r.env.clock.Now()))
		select {
		case <-ctx.Done():
			return
		case c := <-r.cmds:
			r.command(ctx, c)
		case ev := <-r.events:
			r.exec(ctx, r.engineEvent(r.env.clock.Now(), ev))
		case p := <-r.probed:
			r.exec(ctx, r.probeResult(r.env.clock.Now(), p))
		case a := <-r.acted:
			r.exec(ctx, r.actionDone(r.env.clock.Now(), a))
		case v := <-r.learned:
			r.exec(ctx, r.vramLearned(r.env.clock.Now(), v))
		case <-r.poke:
			r.exec(ctx, r.poked(r.env.clock.Now(), r.behind.Swap(false)))
		case n := <-r.notes:
			r.exec(ctx, r.progressNote(r.env.clock.Now(), n))
		case <-timer.C():
			r.wakes.Add(1)
			r.exec(ctx, r.timer(r.env.clock.Now()))
		}
	}
}

// command hands a command to the machine, carries out its effects and
// only then answers, so the caller sees the state the command made.
func (r *runner) command(ctx context.Context, c command) {
	if c.kind == cmdUpdate {
		c.pol = r.env.policy(c.svc)
		r.probe = r.env.probes(c.svc.Service)
	}
	effs, err := r.commanded(r.env.clock.Now(), c)
	r.exec(ctx, effs)
	c.reply <- err
}
