package supervisor

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/internal/clock"
)

// timedProber records when it is asked and answers healthy from readyAfter
// past the container's start.
type timedProber struct {
	clock      clock.Clock
	engine     *fakeEngine
	readyAfter time.Duration

	mu sync.Mutex
	at []time.Time
}

func (p *timedProber) Probe(ctx context.Context, id string) ProbeResult {
	now := p.clock.Now()
	c, err := p.engine.Inspect(ctx, id)
	if err != nil {
		return ProbeResult{Err: err}
	}
	p.mu.Lock()
	p.at = append(p.at, now)
	p.mu.Unlock()
	return ProbeResult{Healthy: c.Running && now.Sub(c.StartedAt) >= p.readyAfter}
}

func (p *timedProber) times() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.at...)
}

// scheduleHarness runs one service "svc" whose check turns healthy
// readyAfter its start, and steps the clock by step.
func scheduleHarness(t *testing.T, yaml string, cfg Config, readyAfter, step time.Duration) (*harness, *timedProber) {
	h := newHarness(t, yaml, cfg)
	h.step = step
	p := &timedProber{clock: h.clock, engine: h.engine, readyAfter: readyAfter}
	h.sup.probes = func(*compose.Service) Prober { return p }
	return h, p
}

// gaps returns the time between consecutive checks.
func gaps(at []time.Time) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(at); i++ {
		out = append(out, at[i].Sub(at[i-1]))
	}
	return out
}

func TestProbeScheduleUntilTheFirstSuccessAndAfter(t *testing.T) {
	const step = 10 * time.Millisecond
	for _, tc := range []struct {
		name string
		yaml string
		cfg  Config
		// fast: the spacing until the first success; then: after it.
		fast, then time.Duration
	}{
		{"http polls every 50ms", `
services:
  svc: {image: x, x-hostagent: {health: {url: "http://127.0.0.1:9/health"}}, healthcheck: {interval: 10s, start_period: 60s}}
`, Config{}, 50 * time.Millisecond, 10 * time.Second},
		{"running status polls every 50ms", `
services:
  svc: {image: x, healthcheck: {interval: 10s, start_period: 60s}}
`, Config{}, 50 * time.Millisecond, 10 * time.Second},
		{"exec keeps 250ms apart", `
services:
  svc: {image: x, healthcheck: {test: 'true', interval: 10s, start_period: 60s}}
`, Config{}, 250 * time.Millisecond, 10 * time.Second},
		{"exec honours a longer start_interval", `
services:
  svc: {image: x, healthcheck: {test: 'true', interval: 10s, start_period: 60s, start_interval: 700ms}}
`, Config{}, 700 * time.Millisecond, 10 * time.Second},
		{"exec never closer than its spacing", `
services:
  svc: {image: x, healthcheck: {test: 'true', interval: 100ms, start_period: 60s, start_interval: 10ms}}
`, Config{}, 250 * time.Millisecond, 250 * time.Millisecond},
		{"http after the fast window: the start interval", `
services:
  svc: {image: x, x-hostagent: {health: {url: "http://127.0.0.1:9/health"}}, healthcheck: {interval: 10s, start_period: 60s}}
`, Config{FastWindow: 200 * time.Millisecond, StartInterval: 400 * time.Millisecond}, 400 * time.Millisecond, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const readyAfter = 1230 * time.Millisecond
			h, p := scheduleHarness(t, tc.yaml, tc.cfg, readyAfter, step)
			h.start()
			h.until("healthy", time.Minute, h.is("svc", Running))
			started := h.engine.startsOf("svc")[0]
			at := p.times()
			first := len(at) - 1 // the success
			lag := at[first].Sub(started.Add(readyAfter))
			if lag < 0 || lag > tc.fast+2*step {
				t.Errorf("success seen %s after the service was ready, want within the %s spacing", lag, tc.fast)
			}
			for i, g := range gaps(at) {
				if tc.cfg.FastWindow > 0 && at[i].Sub(started) < tc.cfg.FastWindow {
					continue // still in the fast window
				}
				if g < tc.fast || g > tc.fast+2*step {
					t.Errorf("check %d came %s after the previous one, want %s (checks at %v)", i+1, g, tc.fast, at)
					break
				}
			}
			// After the first success: the interval.
			h.step = 100 * time.Millisecond
			h.until("next check", time.Minute, func() bool { return len(p.times()) > first+1 })
			if g := p.times()[first+1].Sub(at[first]); g < tc.then || g > tc.then+2*h.step {
				t.Errorf("first check after success came %s later, want %s", g, tc.then)
			}
		})
	}
}

// Fast polls see success early but do not fail early: past the start
// period a failure counts at most once per start interval.
func TestFastPollsCountFailuresAtTheStartIntervalsPace(t *testing.T) {
	h, p := scheduleHarness(t, `
services:
  svc: {image: x, x-hostagent: {health: {url: "http://127.0.0.1:9/health"}}, healthcheck: {interval: 10s, retries: 3, start_period: 1s}}
`, Config{StartInterval: time.Second}, time.Hour, 10*time.Millisecond)
	h.start()
	h.until("unhealthy", time.Minute, h.is("svc", Unhealthy))
	started := h.engine.startsOf("svc")[0]
	// Counted at 1s, 2s and 3s: unhealthy after three start intervals' worth.
	if d := h.clock.Since(started); d < 3*time.Second || d > 3500*time.Millisecond {
		t.Errorf("unhealthy %s after the start, want about 3s (start period 1s + 2 more start intervals)", d)
	}
	if n := len(p.times()); n < 40 {
		t.Errorf("only %d checks in 3s; want the fast 50ms polling", n)
	}
}
