package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/gpu"
	"github.com/hostagent/hostagent/state"
)

// runner is the one goroutine that owns a service's state. It selects on
// commands, engine events, probe results, action results and one timer;
// long work (engine calls, probes, the GPU gate) runs in goroutines that
// report back, so the runner always answers.
type runner struct {
	s     *Supervisor
	svc   *compose.PlannedService
	pol   Policy
	probe Prober
	log   *slog.Logger

	cmds    chan command
	events  chan EngineEvent
	probed  chan probeOutcome
	acted   chan actionResult
	learned chan uint64
	poke    chan struct{}
	// notes carries pull and build progress from the action in flight.
	notes chan string

	st          Status
	enabled     bool
	ctr         Container
	failures    int
	restarts    int
	lastRestart time.Time
	lastFailure time.Time
	nextRestart time.Time
	disabledWhy string
	vram        uint64
	// outdated: why the container no longer matches the file ("" when it
	// does); the next start or restart recreates it.
	outdated string

	cancel       context.CancelFunc
	ctx          context.Context // the runner's own, for watches it starts
	launched     bool            // bring-up started it (or adopted it running)
	failedOnce   bool            // for soft dependents: this service has failed since bring-up
	stopping     bool            // the agent is taking the stack down: no restarts
	gen          int             // incremented on each start; older probe results are dropped
	startedAt    time.Time
	everHealthy  bool // since the last start
	healthySince time.Time
	probeFails   int
	lastCounted  time.Time // last failure counted while awaiting the first success
	nextProbe    time.Time
	probing      bool
	lastCheck    ProbeResult
	lastCheckAt  time.Time
	acting       bool
	actingSince  time.Time // when the current action began (publish keeps it)
	cascadeDue   bool      // restarted: tell restart:true dependents once healthy
	healthyCh    chan struct{}
	stopWatch    context.CancelFunc // ends the exit watch of the current container
	// wakes counts timer wakeups; a runner that spins shows it here.
	wakes atomic.Int64
	// behind: dispatch dropped an event for this runner (catchUp).
	behind atomic.Bool
	// pending holds the engine events that came during the action in
	// flight, applied once its result is in (replayPending).
	pending    []EngineEvent
	waitingFor []string
	detail     string
	// condition is the host condition the last start ran into ("" none);
	// condAttempts counts those starts, apart from failures.
	condition    string
	condAttempts int
	condKind     actionKind // what to retry: a recreate stays one
	// condWide: the condition is the whole engine's (EngineWide).
	condWide bool
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
	svc   *compose.PlannedService
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
		s:       s,
		svc:     svc,
		pol:     policyFor(plan, svc),
		probe:   s.probes(svc.Service),
		log:     s.log.With("service", svc.Name),
		cmds:    make(chan command, 8),
		events:  make(chan EngineEvent, 32),
		probed:  make(chan probeOutcome, 1),
		acted:   make(chan actionResult, 1),
		learned: make(chan uint64, 1),
		poke:    make(chan struct{}, 1),
		notes:   make(chan string, 1),
		enabled: true,
		st:      NotFound,
	}
	if rec != nil {
		// A stored record is trusted only within bounds (state.Trusted).
		trusted, notes := rec.Trusted(s.clock.Now(), r.pol.Max)
		for _, n := range notes {
			r.log.Warn("Stored state bounded", "change", n)
		}
		rec = &trusted
		r.enabled = rec.Enabled
		r.failures = rec.FailureCount
		r.restarts = rec.RestartCount
		r.lastRestart = rec.LastRestartAt
		r.lastFailure = rec.LastFailureAt
		r.nextRestart = rec.NextRestartAt
		r.disabledWhy = rec.DisabledReason
		r.vram = rec.LearnedVRAM
	}
	if existing != nil {
		r.ctr = *existing
		r.st = Stopped
		if existing.Running {
			// Adopt a running container: probe it at once.
			r.enterStarting(existing.StartedAt, s.clock.Now())
		}
	}
	if !r.enabled {
		r.st = r.offStatus()
	}
	return r
}

// adoptExited keeps an exited container of a restart no/on-failure
// service as it is when the agent restarts while the rest of the stack
// runs: a job that completed (exit 0) for the current definition is done,
// and one that failed, and that its policy no longer restarts, stays down
// with the reason; an agent restart must not run a migration again. With
// the whole stack down (a reboot, `hostagent down`) it is a new bring-up,
// and the service starts again as compose up would start it.
func (r *runner) adoptExited(stackUp bool, hash string) {
	c := r.ctr
	if !stackUp || !r.enabled || r.outdated != "" || c.ID == "" || c.Running || c.FinishedAt.IsZero() || r.pol.Restart.RestartsEveryExit() {
		return
	}
	if c.ConfigHash != "" && c.ConfigHash != hash {
		return
	}
	if r.pol.Completes(c.ExitCode) {
		r.launched = true
		r.detail = DetailCompleted
		return
	}
	d := r.pol.DecideFailure(max(r.failures, 1), false)
	if d.Action != ActionHold {
		return // failures left: bring-up starts it again
	}
	r.launched = true
	r.detail = fmt.Sprintf("exited with code %d; %s", c.ExitCode, d.Reason)
}

func (r *runner) run(ctx context.Context) {
	r.ctx = ctx
	timer := r.s.clock.NewTimer(time.Hour)
	defer timer.Stop()
	r.watchExit()
	msg := ""
	if r.ctr.ID != "" {
		msg = MsgDiscovered
	}
	r.checkLaunch(ctx)
	r.publish(msg)
	for {
		if !timer.Stop() {
			select {
			case <-timer.C():
			default:
			}
		}
		timer.Reset(r.nextWake())
		select {
		case <-ctx.Done():
			return
		case c := <-r.cmds:
			c.reply <- r.handleCommand(ctx, c)
		case ev := <-r.events:
			r.handleEvent(ctx, ev)
		case p := <-r.probed:
			r.probing = false
			r.handleProbe(ctx, p)
		case a := <-r.acted:
			r.acting = false
			r.handleAction(ctx, a)
			r.stopIfUserStopped(ctx)
			r.replayPending(ctx)
		case v := <-r.learned:
			if v > 0 && v != r.vram {
				r.vram = v
				r.save(ctx)
			}
		case <-r.poke:
			r.catchUp(ctx)
			r.checkLaunch(ctx)
		case n := <-r.notes:
			if r.acting {
				r.detail = n
				r.publish("")
			}
		case <-timer.C():
			r.wakes.Add(1)
			r.tick(ctx)
		}
	}
}

// nextWake is how long until the next probe or restart is due.
func (r *runner) nextWake() time.Duration {
	now := r.s.clock.Now()
	next := now.Add(time.Hour)
	// A probe or action in flight reports back on its own channel; waking
	// for its deadline meanwhile would spin.
	if r.probeDue() && !r.probing && r.nextProbe.Before(next) {
		next = r.nextProbe
	}
	if !r.nextRestart.IsZero() && !r.acting && r.nextRestart.Before(next) {
		next = r.nextRestart
	}
	return max(next.Sub(now), 0)
}

// probeDue: an unhealthy service is not probed; it waits out its
// backoff and is restarted. One its restart
// policy holds is still probed, so that it can be seen to recover.
func (r *runner) probeDue() bool {
	return r.ctr.ID != "" && r.launched && !r.acting && r.enabled && !r.stopping &&
		(r.st == Starting || r.st == Running || r.held())
}

// held: unhealthy, and the restart policy (no, on-failure) will not
// restart it; it stays UNHEALTHY, reported, until restarted by hand.
func (r *runner) held() bool {
	return r.st == Unhealthy && r.nextRestart.IsZero() && !r.acting && r.enabled && r.launched
}

func (r *runner) tick(ctx context.Context) {
	now := r.s.clock.Now()
	if !r.nextRestart.IsZero() && !now.Before(r.nextRestart) && !r.acting {
		r.nextRestart = time.Time{}
		if !r.launched {
			r.checkLaunch(ctx)
		} else if r.enabled && !r.stopping {
			kind := actRestart
			if r.condition != "" && r.condKind == actRecreate {
				kind = actRecreate
			}
			r.begin(ctx, kind, false)
			if r.condition == "" {
				r.publish(MsgRestartInitiated)
			}
		}
	}
	if r.probeDue() && !r.probing && !now.Before(r.nextProbe) {
		r.startProbe(ctx)
	}
}
