// Package supervisor is the agent's engine: it brings a planned stack up
// eagerly in dependency order, runs one goroutine per service that owns its
// state machine (RUNNING, STARTING, UNHEALTHY, STOPPED, DISABLED,
// NOT_FOUND), detects failures from engine events and probes, restarts with
// exponential backoff, disables services past their max failures, cascades
// restarts to `restart: true` dependents, persists what must survive an
// agent restart, and publishes every change as an event.
//
// The parts: each service's machine (machine*.go) holds its state and
// rules, takes facts and returns effects, with no I/O; its runner
// (runner*.go) is the goroutine that feeds it and carries the effects out,
// seeing the rest only through runnerEnv: the event bus (bus.go), the
// board of the services' views (board.go) and the actuator that starts
// containers (actuator.go). Reload applies a pure diff (diff.go).
//
// Health checks poll fast from a start until the first success (HTTP and
// running status every 50 ms; command checks, an exec each, never closer
// than 250 ms), then follow the interval: the schedule and its rules are
// in machine_health.go.
//
// Restart ownership: the agent alone restarts containers. The engine
// adapter creates containers with restart policy "no", so Podman never
// races the agent. Compose's `restart:` decides which failures the agent
// restarts (policy.go): unset, always and unless-stopped all of them (the
// default), on-failure only non-zero exits, no none; a clean exit under
// no/on-failure is completion (machine_actions.go). Containers that no
// longer match the file are recreated one at a time (rollout.go).
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/internal/clock"
	"github.com/hostagent/hostagent/state"
)

// Config tunes the supervisor; zero values take the defaults.
type Config struct {
	// StopTimeout is how long a container gets to stop before it is killed.
	StopTimeout time.Duration
	// StableWindow: a service healthy this long has its failure count reset.
	StableWindow time.Duration
	// StartInterval is the probe interval until the first success after a
	// start, when compose sets no start_interval, once FastWindow is over
	// (see the probe schedule in machine_health.go).
	StartInterval time.Duration
	// FastInterval is how often HTTP and running-status checks poll from a
	// start until the first success (default 50 ms), so a dependent starts
	// within about that of its dependency answering.
	FastInterval time.Duration
	// ExecSpacing is the least time between the end of one command check
	// and the next (default 250 ms): each costs the engine an exec.
	ExecSpacing time.Duration
	// FastWindow bounds fast polling after a start (default 2 min).
	FastWindow time.Duration
	// EventHistory is how many events /health/events can return.
	EventHistory int
	// OnTick is called from the supervision loop about once a second
	// (systemd watchdog pings).
	OnTick func(Progress)
	// KeepOutdated leaves containers that no longer match the file (config
	// hash or image ID) as they are at agent start, only logged; by
	// default they are recreated, one at a time in phase order. A reload
	// recreates them either way.
	KeepOutdated bool
	// StartSlots is how many starts may be in flight at once (default
	// startSlots, see startqueue.go).
	StartSlots int
}

func (c Config) withDefaults() Config {
	if c.StopTimeout <= 0 {
		c.StopTimeout = 10 * time.Second
	}
	if c.StableWindow <= 0 {
		c.StableWindow = 5 * time.Minute
	}
	if c.StartInterval <= 0 {
		c.StartInterval = time.Second
	}
	if c.FastInterval <= 0 {
		c.FastInterval = 50 * time.Millisecond
	}
	if c.ExecSpacing <= 0 {
		c.ExecSpacing = 250 * time.Millisecond
	}
	if c.FastWindow <= 0 {
		c.FastWindow = 2 * time.Minute
	}
	if c.EventHistory <= 0 {
		c.EventHistory = 500
	}
	if c.StartSlots <= 0 {
		c.StartSlots = startSlots
	}
	return c
}

// Deps are the supervisor's collaborators.
type Deps struct {
	Engine Engine
	Probes ProberFactory
	// Gate is nil when no GPU gate is wanted.
	Gate GPUGate
	// Exits, when set, reports container process exits at once; engine
	// events remain the sure path.
	Exits  ExitWatcher
	Store  state.Store
	Clock  clock.Clock
	Logger *slog.Logger
	// Metrics receives probe results, failures and detection latencies; nil
	// records nothing.
	Metrics Metrics
}

// Metrics is what the supervisor reports beyond status.
type Metrics interface {
	Probe(service string, r ProbeResult)
	Failure(service string)
	Detected(service string, latency time.Duration)
}

// Supervisor runs one stack.
type Supervisor struct {
	cfg     Config
	stack   *compose.Stack
	plan    *compose.Plan
	engine  Engine
	probes  ProberFactory
	gate    GPUGate
	exits   ExitWatcher
	store   state.Store
	clock   clock.Clock
	log     *slog.Logger
	metrics metricsHook
	starts  *startQueue

	// The three parts runners see (runnerEnv): the event bus, the board
	// of the services' views, the actuator that starts containers.
	bus   *eventBus
	board *board
	act   *actuator

	mu         sync.Mutex
	runners    map[string]*runner
	order      []string // plan order
	statuses   map[string]ServiceStatus
	byID       map[string]*runner
	pre        map[string]*precreation // containers made ahead of their start
	running    bool
	startedAt  time.Time
	upLogged   bool
	lastPhase  int
	runCtx     context.Context
	cancelRuns context.CancelFunc
	wg         sync.WaitGroup
	// stopRollout ends the rollout in progress (a reload starts another).
	stopRollout context.CancelFunc
	// loggedHostCond is the engine-wide condition last logged (hostcondition.go).
	loggedHostCond string
}

// New prepares a supervisor for a stack and its plan.
func New(st *compose.Stack, plan *compose.Plan, cfg Config, d Deps) *Supervisor {
	if d.Clock == nil {
		d.Clock = clock.New()
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Store == nil {
		d.Store = state.NewMemory()
	}
	s := &Supervisor{
		cfg:      cfg.withDefaults(),
		stack:    st,
		plan:     plan,
		engine:   d.Engine,
		probes:   d.Probes,
		gate:     d.Gate,
		exits:    d.Exits,
		store:    d.Store,
		clock:    d.Clock,
		log:      d.Logger,
		metrics:  metricsHook{d.Metrics},
		starts:   newStartQueue(cfg.withDefaults().StartSlots),
		runners:  map[string]*runner{},
		statuses: map[string]ServiceStatus{},
		board:    newBoard(plan, d.Gate != nil),
		byID:     map[string]*runner{},
		pre:      map[string]*precreation{},
	}
	s.bus = newEventBus(s.cfg.EventHistory, d.Store, d.Clock, d.Logger)
	for _, ps := range plan.Services {
		s.order = append(s.order, ps.Name)
	}
	s.starts.ahead, s.starts.clock = s.startAhead, d.Clock
	s.act = &actuator{engine: d.Engine, gate: d.Gate, starts: s.starts, stopTimeout: s.cfg.StopTimeout, log: d.Logger,
		stack: s.Stack, create: s.createContainer}
	return s
}

// ErrUnknownService is returned for a name that is not in the stack.
var ErrUnknownService = errors.New("unknown service")

// Run connects the stack's containers, brings it up and supervises it until
// ctx ends. On return the stack is left running.
func (s *Supervisor) Run(ctx context.Context) error {
	s.log.Info("ContainerOrchestrator started", "project", s.stack.Name, "services", len(s.plan.Services), "plan", s.plan.Describe())
	prepared := s.prepare(ctx)
	existing, err := s.discover(ctx)
	if err != nil {
		return err
	}
	<-prepared
	records, err := s.loadRecords(ctx)
	if err != nil {
		s.log.Warn("state store could not be read; starting with fresh counts", "error", err)
	}
	runCtx, cancelRuns := context.WithCancel(ctx)
	defer cancelRuns()
	s.adoptAll(runCtx, cancelRuns, existing, records)

	events := s.engine.Events(runCtx, s.stack.Name)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.consume(runCtx, events)
	}()
	for _, name := range s.order {
		s.startRunner(s.runners[name])
	}
	s.precreate(runCtx, existing)
	s.rollOutAtStart(existing)

	ticker := s.clock.NewTimer(time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			cancelRuns()
			s.wg.Wait()
			s.log.Info("supervision stopped; the stack is left running", "project", s.stack.Name)
			return nil
		case <-ticker.C():
			ticker.Reset(time.Second)
			s.tick()
		}
	}
}

// loadRecords reads the stored state of every service; on an error it
// returns none, so that counts start fresh.
func (s *Supervisor) loadRecords(ctx context.Context) (map[string]state.Record, error) {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	records, err := s.store.Load(lctx)
	if err != nil {
		return map[string]state.Record{}, err
	}
	return records, nil
}

// adoptAll makes a runner for every planned service, adopting the
// containers found, and marks the supervisor running.
func (s *Supervisor) adoptAll(runCtx context.Context, cancelRuns context.CancelFunc, existing map[string]Container, records map[string]state.Record) {
	stackUp := false
	for _, c := range existing {
		stackUp = stackUp || c.Running
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runCtx, s.cancelRuns = runCtx, cancelRuns
	s.startedAt = s.clock.Now()
	for i := range s.plan.Services {
		ps := &s.plan.Services[i]
		outdated := ""
		if !s.cfg.KeepOutdated {
			outdated = s.outdatedWhy(s.stack, ps, existing)
		}
		s.addRunnerLocked(ps, existing, records, stackUp, outdated)
	}
	s.running = true
}

// addRunnerLocked makes the runner of a service of the current plan, with
// its container if one exists and its stored record if any, and registers
// it (not started: see startRunner). Run and Reload both add runners so.
func (s *Supervisor) addRunnerLocked(ps *compose.PlannedService, existing map[string]Container, records map[string]state.Record, stackUp bool, outdated string) *runner {
	var c *Container
	if ex, ok := existing[ps.Name]; ok {
		c = &ex
	}
	var rec *state.Record
	if rr, ok := records[ps.Name]; ok {
		rec = &rr
	}
	r := newRunner(s, s.plan, ps, c, rec)
	r.outdated = outdated
	r.adoptExited(stackUp, s.engine.ConfigHash(s.stack, ps.Service))
	s.runners[ps.Name] = r
	if r.ctr.ID != "" {
		s.byID[r.ctr.ID] = r
	}
	s.board.set(ps.Name, depView{status: r.st, enabled: r.enabled, started: r.ctr.Running,
		launched: r.launched, held: !r.launched && !r.nextRestart.IsZero()})
	return r
}

// startRunner runs a runner under its own context, so that Reload can end
// one without the others.
func (s *Supervisor) startRunner(r *runner) {
	s.mu.Lock()
	ctx, cancel := context.WithCancel(s.runCtx)
	r.cancel = cancel
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		r.run(ctx)
	}()
}

// current returns the stack and plan being run (Reload replaces them).
func (s *Supervisor) current() (*compose.Stack, *compose.Plan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stack, s.plan
}

func (s *Supervisor) consume(ctx context.Context, events <-chan EngineEvent) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			s.dispatch(ev)
		}
	}
}

// dispatch hands an engine event to the runner of its container.
func (s *Supervisor) dispatch(ev EngineEvent) {
	s.mu.Lock()
	var targets []*runner
	if ev.Kind == EventResync {
		for _, n := range s.order {
			targets = append(targets, s.runners[n])
		}
	} else if r, ok := s.byID[ev.ContainerID]; ok {
		targets = append(targets, r)
	} else if r, ok := s.runners[ev.Service]; ok && ev.Kind == EventStart {
		targets = append(targets, r)
	}
	s.mu.Unlock()
	for _, r := range targets {
		select {
		case r.events <- ev:
		default:
			// A runner this far behind re-inspects its container once it
			// catches up (catchUp), so what the event said is not lost.
			s.log.Warn("event dropped: service busy", "service", r.svc.Name, "event", ev.Kind)
			r.behind.Store(true)
			select {
			case r.poke <- struct{}{}:
			default:
			}
		}
	}
}

func (s *Supervisor) bindContainer(r *runner, old, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old != "" && s.byID[old] == r {
		delete(s.byID, old)
	}
	if id != "" {
		s.byID[id] = r
	}
}

func (s *Supervisor) save(ctx context.Context, rec state.Record) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.store.Save(sctx, rec); err != nil {
		s.log.Warn("state not saved", "service", rec.Service, "error", err)
	}
}

func (s *Supervisor) tick() {
	p := s.Progress()
	s.mu.Lock()
	// Phase lines tell bring-up's progress; after it, restarts are events.
	phaseChanged := p.Phase != s.lastPhase && !s.upLogged
	s.lastPhase = p.Phase
	logUp := p.Done && !s.upLogged
	if logUp {
		s.upLogged = true
	}
	since := s.clock.Since(s.startedAt)
	s.mu.Unlock()
	s.logHostCondition(p)
	if phaseChanged && !p.Done {
		name := ""
		if _, plan := s.current(); p.Phase >= 1 && p.Phase <= len(plan.Phases) {
			name = plan.Phases[p.Phase-1].Name
		}
		s.log.Info(fmt.Sprintf("Phase %d/%d: %s", p.Phase, p.Phases, name), "running", p.Running, "total", p.Total, "waiting", p.Waiting)
	}
	if logUp {
		s.log.Info(fmt.Sprintf("Bring-up complete: %d/%d services running", p.Running, p.Total), "elapsed", since.Round(time.Millisecond))
	}
	if s.cfg.OnTick != nil {
		s.cfg.OnTick(p)
	}
}
