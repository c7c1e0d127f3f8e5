package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostagent/hostagent/compose"
)

// hungEngine is the fake engine with the engine down at boot: each
// discovery waits out a 10 s list timeout before failing, as against a
// socket that accepts but does not answer.
type hungEngine struct {
	*fakeEngine
	mu       sync.Mutex
	down     bool
	attempts int
}

func (e *hungEngine) Discover(ctx context.Context, st *compose.Stack) (map[string]Container, error) {
	e.mu.Lock()
	down := e.down
	e.attempts++
	e.mu.Unlock()
	if !down {
		return e.fakeEngine.Discover(ctx, st)
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-e.clock.After(10 * time.Second):
	}
	return nil, errors.New("listing containers: context deadline exceeded")
}

func (e *hungEngine) setDown(down bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.down = down
}

func (e *hungEngine) tries() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.attempts
}

// With WatchdogSec=30s the agent must ping at least every 15 s
// (sd_watchdog_enabled's half), also while discovery retries with backoff.
func TestWatchdogFedWhileTheEngineIsDownAtBoot(t *testing.T) {
	const watchdogPeriod = 30 * time.Second
	h := newHarness(t, `
services:
  db: {image: x, healthcheck: {test: 'true', interval: 1s}}
  app:
    image: x
    healthcheck: {test: 'true', interval: 1s}
    depends_on: {db: {condition: service_healthy}}
`, Config{})
	eng := &hungEngine{fakeEngine: h.engine, down: true}
	var mu sync.Mutex
	var ticks []time.Time
	var statuses []string
	cfg := Config{OnTick: func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		ticks = append(ticks, h.clock.Now())
		statuses = append(statuses, p.String())
	}}
	h.sup = New(h.stack, h.plan, cfg, Deps{
		Engine: eng,
		Probes: func(svc *compose.Service) Prober {
			return fakeProber{health: h.health, engine: h.engine, service: svc.Name}
		},
		Store:  h.store,
		Clock:  h.clock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	start := h.clock.Now()
	h.start()
	h.until("2 minutes of engine outage", 3*time.Minute, func() bool { return h.clock.Since(start) >= 2*time.Minute })

	mu.Lock()
	got := append([]time.Time(nil), ticks...)
	last := ""
	if len(statuses) > 0 {
		last = statuses[len(statuses)-1]
	}
	mu.Unlock()
	if n := eng.tries(); n < 4 {
		t.Fatalf("%d discovery attempts in 2 min: the test did not exercise the backoff", n)
	}
	prev := start
	for _, at := range append(got, h.clock.Now()) {
		if gap := at.Sub(prev); gap > watchdogPeriod/2 {
			t.Errorf("no watchdog ping for %s (from %s to %s into the outage); want one at least every %s",
				gap, prev.Sub(start), at.Sub(start), watchdogPeriod/2)
		}
		prev = at
	}
	if !strings.HasPrefix(last, "waiting for the container engine: listing containers") {
		t.Errorf("STATUS= during the outage = %q, want it to say the engine is awaited and why", last)
	}

	// The engine answers again: the next attempt discovers and the stack
	// comes up.
	eng.setDown(false)
	h.until("stack running once the engine answers", time.Minute, h.allRunning)
}

// A container that dies while the engine is away is restarted as soon as
// the engine is back (the event stream's resync), not after the backoff
// the refused starts grew meanwhile.
func TestRestartedWhenTheEngineReturnsNotAfterTheOutagesBackoff(t *testing.T) {
	h := newHarness(t, `
services:
  web:
    image: x
    healthcheck: {test: 'true', interval: 1s}
    x-hostagent: {restart: {backoff_base: 1s, backoff_max: 5m}}
`, Config{})
	h.step = 100 * time.Millisecond
	h.start()
	h.until("web running", time.Minute, h.is("web", Running))
	h.engine.setHostErr(fmt.Errorf("start container: %w: dial unix /run/podman/podman.sock: connection refused", errFakeUnreachable))
	h.engine.kill("web")
	// Two minutes of outage: the refused starts back off 1 s, 2 s, ... 64 s.
	h.until("two minutes of outage", 3*time.Minute, func() bool {
		st := h.status("web")
		return strings.Contains(st.Detail, "engine unavailable") && st.NextRestartAt != nil &&
			st.NextRestartAt.Sub(h.clock.Now()) > 30*time.Second
	})
	if st := h.status("web"); st.FailureCount != 1 || !st.Enabled {
		t.Fatalf("during the outage: failure_count %d, enabled %v; want 1 (the death only), enabled", st.FailureCount, st.Enabled)
	}
	h.engine.setHostErr(nil)
	back := h.clock.Now()
	h.engine.events <- EngineEvent{Kind: EventResync, Time: back}
	h.until("web running again", time.Minute, h.is("web", Running))
	if took := h.clock.Since(back); took > 3*time.Second {
		t.Errorf("web running %s after the engine came back, want within 3s (a start and a check)", took)
	}
	if st := h.status("web"); st.RestartCount != 1 || st.FailureCount != 1 {
		t.Errorf("after the outage: restart_count %d, failure_count %d; want 1 and 1", st.RestartCount, st.FailureCount)
	}
}
