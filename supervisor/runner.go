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
	nextProbe    time.Time
	probing      bool
	lastCheck    ProbeResult
	lastCheckAt  time.Time
	acting       bool
	cascadeDue   bool // restarted: tell restart:true dependents once healthy
	healthyCh    chan struct{}
	stopWatch    context.CancelFunc // ends the exit watch of the current container
	// wakes counts timer wakeups; a runner that spins shows it here.
	wakes        atomic.Int64
	waitingFor   []string
	detail       string
	lastMessage  string
	loggedBackup bool
}

type commandKind int

const (
	cmdRestart commandKind = iota
	cmdEnable
	cmdDisable
	cmdQuiesce
	cmdUpdate
)

type command struct {
	kind   commandKind
	reset  bool   // restart: reset the failure count
	reason string // restart: why (manual, dependency)
	manual bool
	// update: the service's new definition after a reload.
	svc      *compose.PlannedService
	recreate bool
	reply    chan error
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

func newRunner(s *Supervisor, svc *compose.PlannedService, existing *Container, rec *state.Record) *runner {
	r := &runner{
		s:       s,
		svc:     svc,
		pol:     PolicyFor(svc.Service),
		probe:   s.probes(svc.Service),
		log:     s.log.With("service", svc.Name),
		cmds:    make(chan command, 8),
		events:  make(chan EngineEvent, 32),
		probed:  make(chan probeOutcome, 1),
		acted:   make(chan actionResult, 1),
		learned: make(chan uint64, 1),
		poke:    make(chan struct{}, 1),
		enabled: true,
		st:      NotFound,
	}
	if rec != nil {
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
			r.st, r.launched, r.startedAt, r.gen = Starting, true, existing.StartedAt, 1
			r.nextProbe = s.clock.Now()
			r.healthyCh = make(chan struct{})
		}
	}
	if !r.enabled {
		r.st = Disabled
	}
	return r
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
		case v := <-r.learned:
			if v > 0 && v != r.vram {
				r.vram = v
				r.save(ctx)
			}
		case <-r.poke:
			r.checkLaunch(ctx)
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

// probeDue: an unhealthy service is not probed; as in the seed's state
// diagram it waits out its backoff and is restarted.
func (r *runner) probeDue() bool {
	return r.ctr.ID != "" && r.launched && !r.acting && r.enabled && !r.stopping &&
		(r.st == Starting || r.st == Running)
}

func (r *runner) tick(ctx context.Context) {
	now := r.s.clock.Now()
	if !r.nextRestart.IsZero() && !now.Before(r.nextRestart) && !r.acting {
		r.nextRestart = time.Time{}
		if !r.launched {
			r.checkLaunch(ctx)
		} else if r.enabled && !r.stopping {
			r.begin(ctx, actRestart, false)
			r.publish(MsgRestartInitiated)
		}
	}
	if r.probeDue() && !r.probing && !now.Before(r.nextProbe) {
		r.startProbe(ctx)
	}
}

// checkLaunch starts the service during bring-up once what it waits for is
// satisfied.
func (r *runner) checkLaunch(ctx context.Context) {
	if r.launched || r.acting || !r.enabled || r.stopping {
		return
	}
	ok, waiting := r.s.dependenciesMet(r.svc)
	if !ok {
		if !equalStrings(waiting, r.waitingFor) {
			r.waitingFor = waiting
			r.publish(MsgWaiting)
		}
		return
	}
	if ahead := r.s.gpuAhead(r.svc); ahead != "" {
		// A more critical GPU service is about to ask for the GPU lane:
		// let it ask first.
		if w := []string{ahead + " (GPU, more critical)"}; !equalStrings(w, r.waitingFor) {
			r.waitingFor = w
			r.publish("")
		}
		return
	}
	if !r.nextRestart.IsZero() && r.s.clock.Now().Before(r.nextRestart) {
		// A backoff from before an agent restart is still running.
		r.publish("")
		return
	}
	r.nextRestart = time.Time{}
	r.begin(ctx, actStart, false)
}

// begin runs a start or restart in the background; one at a time.
func (r *runner) begin(ctx context.Context, kind actionKind, manual bool) {
	r.acting = true
	r.probing = false
	r.waitingFor = nil
	ctr, svc := r.ctr, r.svc
	ticket := r.reserveGPU(kind)
	r.publish("")
	go func() {
		res := r.s.act(ctx, r, svc, kind, ctr, ticket)
		res.manual = manual
		select {
		case r.acted <- res:
		case <-ctx.Done():
			if res.slot != nil {
				res.slot.Release()
			}
		}
	}()
}

// reserveGPU takes the GPU service's place in the gate's queue (nil for
// others); the action waits on it.
func (r *runner) reserveGPU(kind actionKind) *gpu.Ticket {
	if !r.svc.GPU.Required || r.s.gate == nil {
		return nil
	}
	op := gpu.OpStart
	if kind != actStart {
		op = gpu.OpRestart
	}
	need := r.svc.GPU.VRAMBytes
	if need == 0 {
		need = r.vram // learned on an earlier start
	}
	return r.s.gate.Reserve(gpu.Request{Service: r.svc.Name, Priority: gpuPriority(r.svc), NeedBytes: need, Op: op})
}

func (r *runner) handleAction(ctx context.Context, a actionResult) {
	now := r.s.clock.Now()
	if a.err != nil {
		if a.slot != nil {
			a.slot.Release()
		}
		r.log.Warn("start failed", "error", a.err)
		if a.ctr.ID != "" {
			r.setContainer(a.ctr)
		}
		r.detail = a.err.Error()
		msg := MsgStartFailed
		if a.kind == actRestart {
			msg = MsgRestartFailed
		}
		r.launched = true
		if r.ctr.ID == "" {
			r.st = NotFound
		} else {
			r.st = Stopped
		}
		r.fail(ctx, msg)
		return
	}
	if !a.ctr.Running {
		// It exited at once (bad command, missing file): a failed start.
		a.err = fmt.Errorf("container exited right after start (exit code %d)", a.ctr.ExitCode)
		r.handleAction(ctx, a)
		return
	}
	r.setContainer(a.ctr)
	r.detail = ""
	r.launched = true
	r.gen++
	r.st = Starting
	r.startedAt = now
	r.everHealthy = false
	r.probeFails = 0
	r.nextProbe = now.Add(r.startInterval())
	r.healthyCh = make(chan struct{})
	if a.slot != nil {
		go r.settle(ctx, a.slot, r.healthyCh)
	}
	msg := MsgStarted
	if a.kind == actRecreate {
		msg = MsgRecreated
	}
	if a.kind == actRestart {
		r.restarts++
		r.lastRestart = now
		r.cascadeDue = true
		msg = MsgRestartCompleted
		r.log.Info(fmt.Sprintf("Restarted service %s", r.svc.Name), "restart_count", r.restarts)
	}
	r.save(ctx)
	r.publish(msg)
}

// settle keeps the GPU gate closed until the service's VRAM use settles (or
// it is healthy), then releases it and reports the learned peak.
func (r *runner) settle(ctx context.Context, slot *gpu.Slot, healthy <-chan struct{}) {
	defer slot.Release()
	res := slot.Settle(ctx, healthy)
	if v, ok := res.Learned(); ok {
		select {
		case r.learned <- v:
		default:
		}
	}
}

func (r *runner) startInterval() time.Duration {
	if si := r.svc.Health.StartInterval; si > 0 {
		return si
	}
	return min(r.s.cfg.StartInterval, r.interval())
}

func (r *runner) interval() time.Duration {
	if r.svc.Health.Interval > 0 {
		return r.svc.Health.Interval
	}
	return 30 * time.Second
}

func (r *runner) startProbe(ctx context.Context) {
	r.probing = true
	gen, id := r.gen, r.ctr.ID
	timeout := r.svc.Health.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	go func() {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		res := safeProbe(pctx, r.probe, id)
		select {
		case r.probed <- probeOutcome{gen: gen, res: res}:
		case <-ctx.Done():
		}
	}()
}

// safeProbe turns a panicking prober into a probe error.
func safeProbe(ctx context.Context, p Prober, id string) (res ProbeResult) {
	defer func() {
		if v := recover(); v != nil {
			res = ProbeResult{Err: fmt.Errorf("probe panicked: %v", v)}
		}
	}()
	return p.Probe(ctx, id)
}

func (r *runner) handleProbe(ctx context.Context, p probeOutcome) {
	if p.gen != r.gen || !r.probeDue() {
		return
	}
	now := r.s.clock.Now()
	r.lastCheck, r.lastCheckAt = p.res, now
	r.s.metrics.probe(r.svc.Name, p.res)
	if p.res.Err != nil {
		// Could not probe: health stays as it was.
		r.log.Debug("health check could not run", "error", p.res.Err)
		r.nextProbe = now.Add(r.currentInterval())
		return
	}
	if p.res.Healthy {
		r.onHealthy(ctx, now)
	} else {
		r.onUnhealthy(ctx, now, p.res)
	}
	r.nextProbe = now.Add(r.currentInterval())
}

func (r *runner) currentInterval() time.Duration {
	if r.st == Starting && !r.everHealthy {
		return r.startInterval()
	}
	return r.interval()
}

func (r *runner) onHealthy(ctx context.Context, now time.Time) {
	r.probeFails = 0
	if r.st == Running {
		if r.failures > 0 && now.Sub(r.healthySince) >= r.s.cfg.StableWindow {
			r.failures = 0
			r.save(ctx)
			r.publish("")
		}
		return
	}
	prev := r.st
	r.st = Running
	r.healthySince = now
	r.nextRestart = time.Time{}
	r.detail = ""
	if !r.everHealthy {
		r.everHealthy = true
		close(r.healthyCh)
	}
	msg := MsgHealthy
	if prev == Unhealthy || r.failures > 0 {
		msg = MsgRecovered
		r.log.Info(fmt.Sprintf("Service %s recovered", r.svc.Name))
	}
	r.save(ctx)
	r.publish(msg)
	if r.cascadeDue {
		r.cascadeDue = false
		r.s.cascade(r.svc.Name)
	}
}

func (r *runner) onUnhealthy(ctx context.Context, now time.Time, res ProbeResult) {
	if r.st == Starting && !r.everHealthy && now.Before(r.startedAt.Add(r.svc.Health.StartPeriod)) {
		// Failures in the start period do not count (compose semantics).
		return
	}
	if r.st == Unhealthy {
		return
	}
	r.probeFails++
	if r.probeFails < max(r.svc.Health.Retries, 1) {
		return
	}
	r.detail = trimOutput(res.Output)
	r.log.Warn(fmt.Sprintf("Health check failed for %s", r.svc.Name), "consecutive", r.probeFails, "output", r.detail)
	r.st = Unhealthy
	r.fail(ctx, MsgHealthCheckFail)
}

// fail records one failure and asks the policy what next.
func (r *runner) fail(ctx context.Context, msg string) {
	now := r.s.clock.Now()
	r.failures++
	r.lastFailure = now
	r.failedOnce = true
	r.probeFails = 0
	r.cascadeDue = false
	r.s.metrics.failure(r.svc.Name)
	if !r.enabled || r.stopping {
		r.save(ctx)
		r.publish(msg)
		return
	}
	d := r.pol.Decide(r.failures)
	if d.Action == ActionDisable {
		r.log.Error(fmt.Sprintf("Service %s exceeded %d failures", r.svc.Name, r.pol.MaxFailures))
		r.enabled = false
		r.st = Disabled
		r.nextRestart = time.Time{}
		r.disabledWhy = MsgMaxFailures
		r.save(ctx)
		r.publish(msg)
		r.publish(MsgMaxFailures)
		r.s.pokeAll()
		return
	}
	r.nextRestart = now.Add(d.Delay)
	r.log.Info(fmt.Sprintf("Service %s in backoff, %.1fs remaining", r.svc.Name, d.Delay.Seconds()), "failure_count", r.failures)
	r.save(ctx)
	r.publish(msg)
	r.s.pokeAll()
}

func (r *runner) handleEvent(ctx context.Context, ev EngineEvent) {
	if r.acting || r.stopping {
		// The action in flight inspects the container itself.
		return
	}
	switch ev.Kind {
	case EventDie, EventOOM, EventStop, EventResync:
		if r.ctr.ID == "" || (ev.ProcessExited && ev.ContainerID != r.ctr.ID) {
			return
		}
		var c Container
		var err error
		if ev.ProcessExited {
			// The process is gone whatever the engine says yet.
			c, err = r.ctr, nil
			c.Running = false
		} else {
			c, err = r.inspect(ctx)
		}
		if err != nil {
			if ev.Kind == EventResync {
				return
			}
			c = r.ctr
			c.Running = false
		}
		if c.Running {
			return // stale: it is running again
		}
		// An unhealthy service already waits for its restart: its
		// container stopping is the same failure, not a second one.
		wasUp := r.st == Starting || r.st == Running
		r.setContainer(c)
		if !wasUp || !r.launched {
			if r.st == Unhealthy || r.st == Stopped {
				r.publish("")
			}
			return
		}
		r.gen++ // drop probes of the dead container
		r.st = Stopped
		r.detail = fmt.Sprintf("exited with code %d", c.ExitCode)
		if ev.ProcessExited {
			r.detail = "main process exited"
		}
		if c.OOMKilled || ev.Kind == EventOOM {
			r.detail = "killed: out of memory"
		}
		if !r.enabled {
			r.st = Disabled
			r.publish(MsgContainerDied)
			return
		}
		r.s.metrics.detected(r.svc.Name, ev.Time, r.s.clock.Now())
		r.fail(ctx, MsgContainerDied)
	case EventStart:
		// Started behind the agent's back: by a human, or by the engine's
		// restart policy on an adopted container. Take it as the restart
		// the agent would have made, so the two never both restart it.
		if r.st == Stopped || r.st == NotFound || r.st == Unhealthy {
			c, err := r.inspect(ctx)
			if err != nil || !c.Running {
				return
			}
			msg := MsgStarted
			if r.launched {
				r.restarts++
				r.lastRestart = r.s.clock.Now()
				msg = MsgRestartCompleted
			}
			r.setContainer(c)
			r.launched = true
			r.nextRestart = time.Time{}
			r.gen++
			r.st, r.startedAt, r.everHealthy, r.probeFails = Starting, r.s.clock.Now(), false, 0
			r.nextProbe = r.s.clock.Now()
			r.healthyCh = make(chan struct{})
			r.save(ctx)
			r.publish(msg)
		}
	case EventDestroy:
		if ev.ContainerID != "" && ev.ContainerID != r.ctr.ID {
			return
		}
		wasUp := r.st == Starting || r.st == Running || r.st == Unhealthy
		r.setContainer(Container{})
		r.gen++
		if !r.launched || !r.enabled {
			r.st = NotFound
			if !r.enabled {
				r.st = Disabled
			}
			r.publish("")
			return
		}
		r.st = NotFound
		if wasUp {
			r.fail(ctx, MsgContainerDied)
		} else {
			r.publish("")
		}
	}
}

func (r *runner) inspect(ctx context.Context) (Container, error) {
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return r.s.engine.Inspect(ictx, r.ctr.ID)
}

func (r *runner) setContainer(c Container) {
	old := r.ctr
	r.ctr = c
	if old.ID != c.ID {
		r.s.bindContainer(r, old.ID, c.ID)
	}
	if old.ID != c.ID || old.PID != c.PID || !c.Running {
		r.watchExit()
	}
}

// watchExit follows the current container's main process, so a crash is
// known the moment it happens rather than when the engine's event comes.
func (r *runner) watchExit() {
	if r.stopWatch != nil {
		r.stopWatch()
		r.stopWatch = nil
	}
	if r.s.exits == nil || !r.ctr.Running || r.ctr.PID <= 0 || r.ctx == nil {
		return
	}
	ctx, cancel := context.WithCancel(r.ctx)
	exited, err := r.s.exits.Watch(ctx, r.ctr.PID, r.ctr.ID)
	if err != nil {
		cancel()
		r.log.Debug("no exit watch; relying on engine events", "error", err)
		return
	}
	r.stopWatch = cancel
	id := r.ctr.ID
	go func() {
		select {
		case <-exited:
		case <-ctx.Done():
			return
		}
		if ctx.Err() != nil {
			return
		}
		ev := EngineEvent{Kind: EventDie, ContainerID: id, Service: r.svc.Name, Time: r.s.clock.Now(), ProcessExited: true}
		select {
		case r.events <- ev:
		case <-ctx.Done():
		}
	}()
}

func (r *runner) handleCommand(ctx context.Context, c command) error {
	now := r.s.clock.Now()
	switch c.kind {
	case cmdQuiesce:
		r.stopping = true
		r.nextRestart = time.Time{}
		return nil
	case cmdUpdate:
		r.svc = c.svc
		r.pol = PolicyFor(c.svc.Service)
		r.probe = r.s.probes(c.svc.Service)
		r.publish("")
		if c.recreate && r.launched && !r.acting {
			r.log.Info("configuration changed; recreating the container")
			r.begin(ctx, actRecreate, false)
		} else if !r.launched {
			r.checkLaunch(ctx)
		}
		return nil
	case cmdDisable:
		r.enabled = false
		r.st = Disabled
		r.nextRestart = time.Time{}
		r.disabledWhy = MsgDisabled
		r.save(ctx)
		r.publish(MsgDisabled)
		r.s.pokeAll()
		return nil
	case cmdEnable:
		wasEnabled := r.enabled
		r.enabled = true
		r.disabledWhy = ""
		r.failures = 0
		if !wasEnabled {
			r.st = Stopped
			if r.ctr.ID == "" {
				r.st = NotFound
			}
			if r.ctr.Running && r.launched {
				r.st = Starting
				r.everHealthy = false
				r.gen++
				r.healthyCh = make(chan struct{})
				r.nextProbe = now
			} else if r.launched {
				r.nextRestart = now // auto-restart
			}
		}
		r.save(ctx)
		r.publish(MsgEnabled)
		r.checkLaunch(ctx)
		return nil
	case cmdRestart:
		if c.reset {
			r.failures = 0
			r.save(ctx)
		}
		if c.manual {
			r.log.Info("manual restart", "reset_failures", c.reset)
			r.publish(MsgManualRestart)
		} else {
			r.log.Info("restart", "reason", c.reason)
			r.publish(c.reason)
		}
		if r.acting {
			// Single flight: a start or restart is already running; the
			// request joins it rather than running a second one.
			return nil
		}
		r.restartNow(ctx, c)
		return nil
	}
	return fmt.Errorf("unknown command %d", c.kind)
}

func (r *runner) restartNow(ctx context.Context, c command) {
	r.nextRestart = time.Time{}
	r.waitingFor = nil
	kind := actRestart
	if !r.launched {
		kind = actStart
	}
	r.begin(ctx, kind, c.manual)
}

// save persists the facts that must survive an agent restart.
func (r *runner) save(ctx context.Context) {
	rec := state.Record{
		Service:        r.svc.Name,
		Enabled:        r.enabled,
		FailureCount:   r.failures,
		RestartCount:   r.restarts,
		LastRestartAt:  r.lastRestart,
		LastFailureAt:  r.lastFailure,
		NextRestartAt:  r.nextRestart,
		DisabledReason: r.disabledWhy,
		LearnedVRAM:    r.vram,
		ContainerID:    r.ctr.ID,
		UpdatedAt:      r.s.clock.Now(),
	}
	r.s.save(ctx, rec)
}

// publish updates the shared snapshot and, with a message, emits an event.
func (r *runner) publish(msg string) {
	now := r.s.clock.Now()
	st := ServiceStatus{
		Name:         r.svc.Name,
		DisplayName:  r.svc.DisplayName,
		Category:     r.svc.Category.String(),
		Status:       r.st,
		Enabled:      r.enabled,
		ContainerID:  shortID(r.ctr.ID),
		Image:        r.svc.Image,
		FailureCount: r.failures,
		RestartCount: r.restarts,
		Phase:        r.svc.Phase,
		Track:        string(r.svc.Track),
		GPU:          r.svc.GPU.Required,
		HealthMethod: string(r.svc.Health.Method),
		WaitingFor:   append([]string(nil), r.waitingFor...),
		Detail:       r.detail,
		LastCheckOK:  r.lastCheck.Healthy && r.lastCheck.Err == nil,
		LearnedVRAM:  r.vram,
	}
	if !r.enabled && r.disabledWhy != "" && st.Detail == "" {
		st.Detail = r.disabledWhy
	}
	for _, p := range r.svc.Ports {
		if p.HostPort > 0 {
			st.Port = p.HostPort
			break
		}
	}
	if !r.lastRestart.IsZero() {
		t := r.lastRestart
		st.LastRestartAt = &t
	}
	if !r.nextRestart.IsZero() {
		t := r.nextRestart
		st.NextRestartAt = &t
	}
	if !r.lastCheckAt.IsZero() {
		t := r.lastCheckAt
		st.LastCheckAt = &t
		st.LastCheckMS = float64(r.lastCheck.Latency.Microseconds()) / 1000
	}
	if (r.st == Running || r.st == Starting) && !r.startedAt.IsZero() {
		t := r.startedAt
		st.StartedAt = &t
		st.UptimeSeconds = int64(now.Sub(r.startedAt).Seconds())
	}
	view := depView{
		status:    r.st,
		started:   r.ctr.Running || (r.launched && r.st != NotFound && r.st != Stopped),
		completed: r.launched && r.ctr.ID != "" && !r.ctr.Running && r.ctr.ExitCode == 0 && !r.ctr.FinishedAt.IsZero(),
		failed:    r.failedOnce,
		enabled:   r.enabled,
		begun:     r.launched || r.acting,
	}
	r.s.update(st, view, msg)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func trimOutput(s string) string {
	const maxLen = 200
	if len(s) > maxLen {
		return s[:maxLen] + "..."
	}
	return s
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
