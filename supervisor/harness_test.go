package supervisor

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/internal/clock"
	"github.com/hostagent/hostagent/state"
)

type harness struct {
	t      *testing.T
	clock  *clock.Fake
	engine *fakeEngine
	health *healthSwitch
	store  state.Store
	sup    *Supervisor
	plan   *compose.Plan
	stack  *compose.Stack
	step   time.Duration
	cancel context.CancelFunc
	done   chan error
}

func loadStack(t *testing.T, yaml string) (*compose.Stack, *compose.Plan) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "proj")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "docker-compose.yml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := compose.Load(context.Background(), compose.Options{Files: []string{path}, Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := compose.NewPlan(st)
	if err != nil {
		t.Fatal(err)
	}
	return st, p
}

// newHarness builds a supervisor on a fake engine, fake probes and a fake
// clock; every service starts healthy unless the test says otherwise.
func newHarness(t *testing.T, yaml string, cfg Config) *harness {
	t.Helper()
	st, p := loadStack(t, yaml)
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	h := &harness{t: t, clock: fc, engine: newFakeEngine(fc), stack: st, plan: p, step: 100 * time.Millisecond,
		health: &healthSwitch{healthy: map[string]bool{}, probes: map[string]int{}}, store: state.NewMemory()}
	for _, s := range st.Services {
		h.health.set(s.Name, true)
	}
	h.build(cfg)
	return h
}

func (h *harness) build(cfg Config) {
	h.sup = New(h.stack, h.plan, cfg, Deps{
		Engine: h.engine,
		Probes: func(svc *compose.Service) Prober {
			return fakeProber{health: h.health, engine: h.engine, service: svc.Name}
		},
		Store:  h.store,
		Clock:  h.clock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.sup.Run(ctx) }()
	h.t.Cleanup(h.stop)
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Logf("supervisor returned: %v", err)
		}
	case <-time.After(5 * time.Second):
		h.t.Error("supervisor did not stop within 5s")
	}
	h.cancel = nil
}

// until advances the fake clock in steps until cond holds.
func (h *harness) until(desc string, limit time.Duration, cond func() bool) {
	h.t.Helper()
	deadline := h.clock.Now().Add(limit)
	realDeadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if h.clock.Now().After(deadline) || time.Now().After(realDeadline) {
			h.t.Fatalf("%s: not reached within %s of fake time (services: %+v)", desc, limit, brief(h.sup.Services()))
		}
		// Let the goroutines react to the last step before time moves on.
		time.Sleep(200 * time.Microsecond)
		if cond() {
			return
		}
		h.clock.Advance(h.step)
	}
}

// settleReal gives goroutines real time to react without moving the clock.
func settleReal() { time.Sleep(20 * time.Millisecond) }

func (h *harness) status(name string) ServiceStatus {
	s, ok := h.sup.Service(name)
	if !ok {
		h.t.Fatalf("no service %s", name)
	}
	return s
}

func (h *harness) is(name string, st Status) func() bool {
	return func() bool { return h.status(name).Status == st }
}

func (h *harness) allRunning() bool {
	for _, s := range h.sup.Services() {
		if s.Status != Running {
			return false
		}
	}
	return true
}

type briefStatus struct {
	Name    string
	Status  string
	Fail    int
	Restart int
	Waiting []string
}

func brief(ss []ServiceStatus) []briefStatus {
	var out []briefStatus
	for _, s := range ss {
		out = append(out, briefStatus{s.Name, s.Status.String(), s.FailureCount, s.RestartCount, s.WaitingFor})
	}
	return out
}

func messagesOf(evs []Event, service string) []string {
	var out []string
	for _, e := range evs {
		if e.Data.Name == service {
			out = append(out, e.Message)
		}
	}
	return out
}

// useEngine puts e in front of the fake engine, for the supervisor and its
// actuator alike; before start.
func (h *harness) useEngine(e Engine) {
	h.sup.engine = e
	h.sup.act.engine = e
}
