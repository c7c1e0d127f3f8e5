package supervisor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/internal/clock"
)

// fakeEngine is an in-memory container engine for unit tests.
type fakeEngine struct {
	clock clock.Clock

	mu        sync.Mutex
	ctrs      map[string]*Container
	byService map[string]string
	seq       int
	events    chan EngineEvent
	starts    []startRecord
	creates   int
	stops     int
	// stopGrace: per service, the timeouts Stop was given.
	stopGrace map[string][]time.Duration
	crash     map[string]bool          // exits right after every start
	exitCode  map[string]int           // exits with this code right after every start
	block     map[string]chan struct{} // Start waits on it
	createErr map[string]error
	// imageErr: EnsureImage fails so for the service; ensures counts calls.
	imageErr map[string]error
	ensures  map[string]int
	// hostErr: Start and Inspect fail so (the engine cannot be reached).
	hostErr error
	// startErr: Start alone fails so (the engine cannot start containers).
	startErr error
	// imageBlock: EnsureImage reports progress, then waits on it.
	imageBlock chan struct{}
	recreates  []string // services, in order
}

type startRecord struct {
	service string
	at      time.Time
}

func newFakeEngine(clk clock.Clock) *fakeEngine {
	return &fakeEngine{
		clock:     clk,
		ctrs:      map[string]*Container{},
		byService: map[string]string{},
		events:    make(chan EngineEvent, 1000),
		crash:     map[string]bool{},
		exitCode:  map[string]int{},
		block:     map[string]chan struct{}{},
		createErr: map[string]error{},
		imageErr:  map[string]error{},
		ensures:   map[string]int{},
	}
}

var errNoSuchContainer = errors.New("no such container")

func (f *fakeEngine) Discover(_ context.Context, st *compose.Stack) (map[string]Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]Container{}
	for svc, id := range f.byService {
		out[svc] = *f.ctrs[id]
	}
	return out, nil
}

func (f *fakeEngine) Create(_ context.Context, st *compose.Stack, svc *compose.Service) (Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.createErr[svc.Name]; err != nil {
		return Container{}, err
	}
	f.seq++
	f.creates++
	c := &Container{ID: fmt.Sprintf("%064d", f.seq), Name: st.Name + "-" + svc.Name + "-1", Service: svc.Name, ConfigHash: "hash-" + svc.Image}
	f.ctrs[c.ID] = c
	f.byService[svc.Name] = c.ID
	return *c, nil
}

func (f *fakeEngine) Start(_ context.Context, id string) error {
	f.mu.Lock()
	if f.hostErr != nil {
		defer f.mu.Unlock()
		return f.hostErr
	}
	if f.startErr != nil {
		defer f.mu.Unlock()
		return f.startErr
	}
	c, ok := f.ctrs[id]
	if !ok {
		f.mu.Unlock()
		return errNoSuchContainer
	}
	gate := f.block[c.Service]
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock.Now()
	f.starts = append(f.starts, startRecord{c.Service, now})
	c.Running, c.StartedAt, c.ExitCode = true, now, 0
	f.seq++
	c.PID = 1000 + f.seq
	f.events <- EngineEvent{Kind: EventStart, ContainerID: id, Service: c.Service, Time: now}
	code, exits := f.exitCode[c.Service]
	if f.crash[c.Service] {
		code, exits = 1, true
	}
	if exits {
		c.Running, c.ExitCode, c.FinishedAt = false, code, now
		f.events <- EngineEvent{Kind: EventDie, ContainerID: id, Service: c.Service, ExitCode: code, Time: now}
	}
	return nil
}

func (f *fakeEngine) Stop(_ context.Context, id string, timeout time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.ctrs[id]
	if !ok {
		return errNoSuchContainer
	}
	f.stops++
	if f.stopGrace == nil {
		f.stopGrace = map[string][]time.Duration{}
	}
	f.stopGrace[c.Service] = append(f.stopGrace[c.Service], timeout)
	if c.Running {
		c.Running, c.ExitCode, c.FinishedAt = false, 0, f.clock.Now()
		f.events <- EngineEvent{Kind: EventDie, ContainerID: id, Service: c.Service, Time: f.clock.Now()}
	}
	return nil
}

func (f *fakeEngine) Remove(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.ctrs[id]
	if !ok {
		return errNoSuchContainer
	}
	delete(f.ctrs, id)
	delete(f.byService, c.Service)
	return nil
}

func (f *fakeEngine) Inspect(_ context.Context, id string) (Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hostErr != nil {
		return Container{}, f.hostErr
	}
	c, ok := f.ctrs[id]
	if !ok {
		return Container{}, errNoSuchContainer
	}
	return *c, nil
}

func (f *fakeEngine) Events(ctx context.Context, _ string) <-chan EngineEvent { return f.events }

func (f *fakeEngine) ConfigHash(_ *compose.Stack, svc *compose.Service) string {
	return "hash-" + svc.Image
}

func (f *fakeEngine) EnsureImage(_ context.Context, _ *compose.Stack, svc *compose.Service, progress func(string)) error {
	f.mu.Lock()
	f.ensures[svc.Name]++
	err, block := f.imageErr[svc.Name], f.imageBlock
	f.mu.Unlock()
	if err != nil {
		return err
	}
	progress("pulling image " + svc.Image)
	if block != nil {
		<-block
	}
	return nil
}

// errFakeImage, errFakeUnreachable and errFakeSetup stand for the
// engine's host conditions; errFakeSetup is the whole engine's.
var (
	errFakeImage       = errors.New("image unavailable")
	errFakeUnreachable = errors.New("engine unavailable")
	errFakeSetup       = errors.New("engine cannot start containers")
)

func (f *fakeEngine) Condition(err error) (string, bool) {
	if !errors.Is(err, errFakeImage) && !errors.Is(err, errFakeUnreachable) && !errors.Is(err, errFakeSetup) {
		return "", false
	}
	// As the bridge does: from where the condition's words begin.
	msg := err.Error()
	if i := strings.Index(msg, errFakeSetup.Error()); i >= 0 && errors.Is(err, errFakeSetup) {
		return msg[i:], true
	}
	return msg, true
}

func (f *fakeEngine) EngineWide(err error) bool { return errors.Is(err, errFakeSetup) }

func (f *fakeEngine) setStartErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.startErr = err
}

func (f *fakeEngine) containerOf(service string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byService[service]
}

func (f *fakeEngine) setHostErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hostErr = err
}

func (f *fakeEngine) setImageErr(service string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.imageErr[service] = err
}

func (f *fakeEngine) ensureCount(service string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ensures[service]
}

// kill makes a service's container die as `podman kill` would.
func (f *fakeEngine) kill(service string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.ctrs[f.byService[service]]
	if c == nil || !c.Running {
		return
	}
	c.Running, c.ExitCode, c.FinishedAt = false, 137, f.clock.Now()
	f.events <- EngineEvent{Kind: EventDie, ContainerID: c.ID, Service: service, ExitCode: 137, Time: f.clock.Now()}
}

// exit makes a running service's main process exit with code.
func (f *fakeEngine) exit(service string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.ctrs[f.byService[service]]
	if c == nil || !c.Running {
		return
	}
	c.Running, c.ExitCode, c.FinishedAt = false, code, f.clock.Now()
	f.events <- EngineEvent{Kind: EventDie, ContainerID: c.ID, Service: service, ExitCode: code, Time: f.clock.Now()}
}

func (f *fakeEngine) startsOf(service string) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []time.Time
	for _, s := range f.starts {
		if s.service == service {
			out = append(out, s.at)
		}
	}
	return out
}

func (f *fakeEngine) startOrder() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, s := range f.starts {
		out = append(out, s.service)
	}
	return out
}

func (f *fakeEngine) counts() (creates, starts, stops int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.creates, len(f.starts), f.stops
}

// fakeProber answers from a per-service health switch; a stopped container
// is unhealthy.
type fakeProber struct {
	health  *healthSwitch
	engine  *fakeEngine
	service string
}

type healthSwitch struct {
	mu      sync.Mutex
	healthy map[string]bool
	probes  map[string]int
}

func (h *healthSwitch) set(service string, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.healthy[service] = ok
}

func (h *healthSwitch) count(service string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.probes[service]
}

func (p fakeProber) Probe(ctx context.Context, id string) ProbeResult {
	c, err := p.engine.Inspect(ctx, id)
	if err != nil {
		return ProbeResult{Err: err}
	}
	p.health.mu.Lock()
	defer p.health.mu.Unlock()
	p.health.probes[p.service]++
	return ProbeResult{Healthy: c.Running && p.health.healthy[p.service], Latency: time.Millisecond}
}

// fakeExits is an ExitWatcher whose exits the test triggers.
type fakeExits struct {
	mu      sync.Mutex
	watches map[int]chan struct{}
}

func (f *fakeExits) Watch(ctx context.Context, pid int, container string) (<-chan struct{}, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := make(chan struct{})
	f.watches[pid] = c
	return c, nil
}

// exit signals that pid's process exited; false when nobody watches it.
func (f *fakeExits) exit(pid int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.watches[pid]
	if ok {
		close(c)
		delete(f.watches, pid)
	}
	return ok
}
