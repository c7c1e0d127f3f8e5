// Package supervisor is the agent's engine: it brings a planned stack up
// eagerly in dependency order, runs one goroutine per service that owns its
// state machine (the seed's RUNNING, STARTING, UNHEALTHY, STOPPED, DISABLED,
// NOT_FOUND), detects failures from engine events and probes, restarts with
// exponential backoff, disables services past their max failures, cascades
// restarts to `restart: true` dependents, persists what must survive an
// agent restart, and publishes every change as an event.
//
// Restart ownership: the agent alone restarts containers. The engine
// adapter creates containers with restart policy "no", so Podman never
// races the agent.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/gpu"
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
	// start, when compose sets no start_interval; short, so bring-up moves
	// on as soon as a service is ready.
	StartInterval time.Duration
	// EventHistory is how many events /health/events can return.
	EventHistory int
	// OnTick is called from the supervision loop about once a second
	// (systemd watchdog pings).
	OnTick func(Progress)
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
	if c.EventHistory <= 0 {
		c.EventHistory = 500
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

	emitMu     sync.Mutex
	mu         sync.Mutex
	runners    map[string]*runner
	order      []string // plan order
	statuses   map[string]ServiceStatus
	views      map[string]depView
	byID       map[string]*runner
	history    []Event
	seq        uint64
	subs       map[int]chan Event
	nextSub    int
	running    bool
	startedAt  time.Time
	upLogged   bool
	lastPhase  int
	runCtx     context.Context
	cancelRuns context.CancelFunc
	wg         sync.WaitGroup
}

// depView is what dependents need to know of a service.
type depView struct {
	status    Status
	started   bool
	completed bool
	failed    bool
	enabled   bool
	begun     bool // its first start is under way or done
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
		starts:   newStartQueue(1),
		runners:  map[string]*runner{},
		statuses: map[string]ServiceStatus{},
		views:    map[string]depView{},
		byID:     map[string]*runner{},
		subs:     map[int]chan Event{},
	}
	for _, ps := range plan.Services {
		s.order = append(s.order, ps.Name)
	}
	return s
}

// ErrUnknownService is returned for a name that is not in the stack.
var ErrUnknownService = errors.New("unknown service")

// Run connects the stack's containers, brings it up and supervises it until
// ctx ends. On return the stack is left running.
func (s *Supervisor) Run(ctx context.Context) error {
	s.log.Info("ContainerOrchestrator started", "project", s.stack.Name, "services", len(s.plan.Services), "plan", s.plan.Describe())
	existing, err := s.discover(ctx)
	if err != nil {
		return err
	}
	loadCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	records, err := s.store.Load(loadCtx)
	cancel()
	if err != nil {
		s.log.Warn("state store could not be read; starting with fresh counts", "error", err)
		records = map[string]state.Record{}
	}

	runCtx, cancelRuns := context.WithCancel(ctx)
	defer cancelRuns()
	s.mu.Lock()
	s.runCtx, s.cancelRuns = runCtx, cancelRuns
	s.startedAt = s.clock.Now()
	for i := range s.plan.Services {
		ps := &s.plan.Services[i]
		var c *Container
		if ex, ok := existing[ps.Name]; ok {
			c = &ex
		}
		var rec *state.Record
		if r, ok := records[ps.Name]; ok {
			rec = &r
		}
		r := newRunner(s, ps, c, rec)
		s.runners[ps.Name] = r
		if r.ctr.ID != "" {
			s.byID[r.ctr.ID] = r
		}
		s.views[ps.Name] = depView{status: r.st, enabled: r.enabled, started: r.ctr.Running}
	}
	s.running = true
	s.mu.Unlock()

	events := s.engine.Events(runCtx, s.stack.Name)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.consume(runCtx, events)
	}()
	for _, name := range s.order {
		s.startRunner(s.runners[name])
	}

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

// discover lists existing containers, waiting for the engine if needed.
func (s *Supervisor) discover(ctx context.Context) (map[string]Container, error) {
	delay := time.Second
	for {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		found, err := s.engine.Discover(dctx, s.stack)
		cancel()
		if err == nil {
			return found, nil
		}
		s.log.Error("Failed to connect to Docker daemon", "error", err, "retry_in", delay)
		if s.cfg.OnTick != nil {
			// Keep systemd's watchdog fed and STATUS= telling why.
			s.cfg.OnTick(Progress{Phases: len(s.plan.Phases), Total: len(s.order), EngineError: err.Error()})
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("discovering containers of %s: %w", s.stack.Name, err)
		case <-s.clock.After(delay):
		}
		delay = min(delay*2, 30*time.Second)
	}
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
			// A runner this far behind re-inspects on the resync that follows.
			s.log.Warn("event dropped: service busy", "service", r.svc.Name, "event", ev.Kind)
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

// act performs a start or restart: the GPU gate for GPU services, then a
// start slot, then the engine calls.
func (s *Supervisor) act(ctx context.Context, r *runner, svc *compose.PlannedService, kind actionKind, ctr Container, ticket *gpu.Ticket) actionResult {
	res := actionResult{kind: kind, ctr: ctr}
	stack, _ := s.current()
	if ticket != nil {
		slot, err := ticket.Wait(ctx)
		if err != nil {
			res.err = fmt.Errorf("gpu gate: %w", err)
			return res
		}
		res.slot = slot
	}
	release, err := s.starts.acquire(ctx, int64(svc.RemainingPath/time.Millisecond))
	if err != nil {
		res.err = err
		return res
	}
	defer release()
	cctx, cancel := context.WithTimeout(ctx, s.cfg.StopTimeout+60*time.Second)
	defer cancel()
	// Stop even a container known dead: after a fast exit signal the engine
	// may not have noticed yet, and the stop makes it catch up.
	if kind != actStart && ctr.ID != "" {
		if err := s.engine.Stop(cctx, ctr.ID, s.cfg.StopTimeout); err != nil && ctr.Running {
			s.log.Warn("stop before restart failed", "service", svc.Name, "error", err)
		}
	}
	if kind == actRecreate && ctr.ID != "" {
		if err := s.engine.Remove(cctx, ctr.ID); err != nil {
			res.err = fmt.Errorf("removing the outdated container of %s: %w", svc.Name, err)
			return res
		}
		ctr = Container{}
	}
	if ctr.ID != "" {
		err = s.engine.Start(cctx, ctr.ID)
		if err != nil && isGone(ctx, s.engine, ctr.ID) {
			ctr = Container{}
		} else if err != nil {
			res.err = fmt.Errorf("starting %s: %w", svc.Name, err)
			return res
		}
	}
	if ctr.ID == "" {
		created, err := s.engine.Create(cctx, stack, svc.Service)
		if err != nil {
			res.err = fmt.Errorf("creating %s: %w", svc.Name, err)
			return res
		}
		res.ctr = created
		r.s.bindContainer(r, "", created.ID)
		if err := s.engine.Start(cctx, created.ID); err != nil {
			res.err = fmt.Errorf("starting %s: %w", svc.Name, err)
			return res
		}
		ctr = created
	}
	if res.slot != nil {
		res.slot.Track(ctr.ID)
	}
	c, err := s.engine.Inspect(cctx, ctr.ID)
	if err != nil {
		c = ctr
		c.Running = true
	}
	res.ctr = c
	return res
}

func isGone(ctx context.Context, e Engine, id string) bool {
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := e.Inspect(ictx, id)
	return err != nil
}

// gpuPriority puts first the GPU services that gate others through hard
// dependencies (the backend's), then the rest; longer remaining paths first
// within each group. Lower goes first.
func gpuPriority(svc *compose.PlannedService) int {
	p := -int(svc.RemainingPath / time.Millisecond)
	if len(svc.Dependents) == 0 {
		p += 1 << 40
	}
	return p
}

// dependenciesMet reports whether everything svc waits for is satisfied,
// and otherwise what it still waits for. Soft and implicit waits are
// satisfied as well by a dependency that failed or is disabled: they order
// the start but never block it.
func (s *Supervisor) dependenciesMet(svc *compose.PlannedService) (bool, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var waiting []string
	for _, d := range svc.Waits {
		v := s.views[d.Service]
		var met bool
		switch d.Condition {
		case compose.ConditionStarted:
			met = v.started
		case compose.ConditionCompleted:
			met = v.completed
		default:
			met = v.status == Running
		}
		if met {
			continue
		}
		soft := d.Implicit || !d.Required
		if soft && (v.failed || !v.enabled) {
			continue
		}
		why := fmt.Sprintf("%s (%s)", d.Service, condWord(d.Condition))
		if !v.enabled {
			why = fmt.Sprintf("%s (disabled)", d.Service)
		}
		waiting = append(waiting, why)
	}
	return len(waiting) == 0, waiting
}

// gpuAhead names a GPU service more critical than svc that could start now
// but has not begun: svc must let it take the GPU lane first, or whichever
// runner happened to wake first would win.
func (s *Supervisor) gpuAhead(svc *compose.PlannedService) string {
	if !svc.GPU.Required || s.gate == nil {
		return ""
	}
	_, plan := s.current()
	mine := gpuPriority(svc)
	for i := range plan.Services {
		o := &plan.Services[i]
		if o.Name == svc.Name || !o.GPU.Required || gpuPriority(o) >= mine {
			continue
		}
		s.mu.Lock()
		v := s.views[o.Name]
		s.mu.Unlock()
		if v.begun || !v.enabled {
			continue
		}
		if ok, _ := s.dependenciesMet(o); ok {
			return o.Name
		}
	}
	return ""
}

func condWord(c compose.Condition) string {
	switch c {
	case compose.ConditionStarted:
		return "started"
	case compose.ConditionCompleted:
		return "completed"
	}
	return "healthy"
}

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

// pokeAll tells every runner that a dependency's state changed.
func (s *Supervisor) pokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.runners {
		select {
		case r.poke <- struct{}{}:
		default:
		}
	}
}

// cascade restarts the dependents whose depends_on has restart: true, once
// the restarted service is healthy again.
func (s *Supervisor) cascade(name string) {
	_, plan := s.current()
	for _, ps := range plan.Services {
		for _, d := range ps.Waits {
			if d.Service == name && d.Restart && !d.Implicit {
				s.mu.Lock()
				ctx := s.runCtx
				s.mu.Unlock()
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					_ = s.send(ctx, ps.Name, command{kind: cmdRestart, reason: MsgDependencyRest + ": " + name})
				}()
			}
		}
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

// send delivers a command to a service's runner and waits for its answer.
func (s *Supervisor) send(ctx context.Context, name string, c command) error {
	s.mu.Lock()
	r, ok := s.runners[name]
	running := s.running
	_, planned := s.plan.Lookup(name)
	s.mu.Unlock()
	if !ok {
		if planned && !running {
			return errors.New("supervisor is not running yet")
		}
		return fmt.Errorf("%w %q", ErrUnknownService, name)
	}
	c.reply = make(chan error, 1)
	select {
	case r.cmds <- c:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-c.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Restart restarts a service now (the seed's manual restart), optionally
// resetting its failure count. It never runs beside another restart of the
// same service.
func (s *Supervisor) Restart(ctx context.Context, name string, resetFailures bool) error {
	return s.send(ctx, name, command{kind: cmdRestart, reset: resetFailures, manual: true})
}

// Enable re-enables auto-restart (and resets the failure count).
func (s *Supervisor) Enable(ctx context.Context, name string) error {
	return s.send(ctx, name, command{kind: cmdEnable})
}

// Disable turns auto-restart off; the container is left as it is.
func (s *Supervisor) Disable(ctx context.Context, name string) error {
	return s.send(ctx, name, command{kind: cmdDisable})
}

// Services returns every service's status in plan order.
func (s *Supervisor) Services() []ServiceStatus {
	waits := s.gpuWaits()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ServiceStatus, 0, len(s.order))
	for _, n := range s.order {
		st, ok := s.statuses[n]
		if !ok {
			st = s.initialStatus(n)
		}
		if w, ok := waits[n]; ok {
			st.Detail = w
		}
		if st.StartedAt != nil && (st.Status == Running || st.Status == Starting) {
			st.UptimeSeconds = int64(s.clock.Since(*st.StartedAt).Seconds())
		}
		out = append(out, st)
	}
	return out
}

// Service returns one service's status.
func (s *Supervisor) Service(name string) (ServiceStatus, bool) {
	for _, st := range s.Services() {
		if st.Name == name {
			return st, true
		}
	}
	return ServiceStatus{}, false
}

func (s *Supervisor) gpuWaits() map[string]string {
	out := map[string]string{}
	if s.gate == nil {
		return out
	}
	for _, w := range s.gate.Waiting() {
		out[w.Service] = w.Reason
	}
	return out
}

func (s *Supervisor) initialStatus(name string) ServiceStatus {
	ps, _ := s.plan.Lookup(name)
	return ServiceStatus{Name: name, DisplayName: ps.DisplayName, Category: ps.Category.String(), Status: NotFound,
		Enabled: true, Image: ps.Image, Phase: ps.Phase, Track: string(ps.Track), GPU: ps.GPU.Required,
		HealthMethod: string(ps.Health.Method)}
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

// Plan returns the plan being run.
func (s *Supervisor) Plan() *compose.Plan {
	_, p := s.current()
	return p
}

// Stack returns the stack being run.
func (s *Supervisor) Stack() *compose.Stack {
	st, _ := s.current()
	return st
}

// Progress summarises bring-up.
func (s *Supervisor) Progress() Progress {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := Progress{Phases: len(s.plan.Phases), Total: len(s.order)}
	lowest := 0
	for _, ps := range s.plan.Services {
		v := s.views[ps.Name]
		if v.status == Running {
			p.Running++
			continue
		}
		if !v.enabled || ps.Track != compose.TrackCore {
			continue
		}
		if lowest == 0 || ps.Phase < lowest {
			lowest = ps.Phase
			p.Waiting = nil
		}
		if ps.Phase == lowest {
			p.Waiting = append(p.Waiting, ps.Name)
		}
	}
	sort.Strings(p.Waiting)
	p.Phase = lowest
	if lowest == 0 {
		p.Phase, p.Done, p.Waiting = p.Phases, true, nil
	}
	return p
}

// Down stops the stack in reverse phase order and ends supervision of it.
func (s *Supervisor) Down(ctx context.Context) error {
	s.mu.Lock()
	var names []string
	for name := range s.runners {
		names = append(names, name)
	}
	st, plan := s.stack, s.plan
	s.mu.Unlock()
	for _, name := range names {
		_ = s.send(ctx, name, command{kind: cmdQuiesce})
	}
	return StopStack(ctx, s.engine, st, plan, s.cfg.StopTimeout, s.log)
}

// StopStack stops a stack's containers in reverse phase order, monitoring
// track first; it needs no running supervisor (`hostagent down`).
func StopStack(ctx context.Context, e Engine, st *compose.Stack, plan *compose.Plan, timeout time.Duration, log *slog.Logger) error {
	found, err := e.Discover(ctx, st)
	if err != nil {
		return err
	}
	services := slices.Clone(plan.Services)
	slices.SortStableFunc(services, func(a, b compose.PlannedService) int {
		if a.Track != b.Track {
			if a.Track == compose.TrackMonitoring {
				return -1
			}
			return 1
		}
		return b.Phase - a.Phase
	})
	var errs []error
	for _, ps := range services {
		c, ok := found[ps.Name]
		if !ok || !c.Running {
			continue
		}
		log.Info("stopping", "service", ps.Name, "phase", ps.Phase)
		if err := e.Stop(ctx, c.ID, timeout); err != nil {
			errs = append(errs, fmt.Errorf("stopping %s: %w", ps.Name, err))
		}
	}
	return errors.Join(errs...)
}
