package supervisor

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/gpu"
)

// The detail keeps the last 5 checks, newest first, with their output
// redacted; the snapshot shows every check's time without an event each.
func TestDetailKeepsTheLastFiveChecks(t *testing.T) {
	const secret = "hunter2-db-password"
	h := newHarness(t, `
services:
  db:
    image: x
    restart: on-failure:3
    environment: {POSTGRES_PASSWORD: `+secret+`}
    healthcheck: {test: 'true', interval: 1s, retries: 3}
`, Config{})
	h.sup = New(h.stack, h.plan, Config{}, Deps{
		Engine: h.engine,
		Probes: func(svc *compose.Service) Prober {
			return leakyProber{fakeProber{health: h.health, engine: h.engine, service: svc.Name}, "auth failed for " + secret}
		},
		Store:  h.store,
		Clock:  h.clock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	h.start()
	h.until("running", time.Minute, h.is("db", Running))
	events := len(h.sup.Events(0))
	before := h.health.count("db")
	h.until("8 more checks", time.Minute, func() bool { return h.health.count("db") >= before+8 })
	settleReal()
	st := h.status("db")
	if st.LastCheckAt == nil || h.clock.Since(*st.LastCheckAt) > 2*time.Second {
		t.Errorf("last_check_at %v at %v: want the latest check, not the one that made it healthy", st.LastCheckAt, h.clock.Now())
	}
	if n := len(h.sup.Events(0)); n != events {
		t.Errorf("%d events for checks that changed nothing, want none", n-events)
	}

	h.health.set("db", false)
	h.until("2 failing checks", time.Minute, func() bool {
		d, _ := h.sup.Detail("db")
		return len(d.Probes) == probeHistory && d.Probes[1].Result == ProbeFailing
	})
	d, ok := h.sup.Detail("db")
	if !ok {
		t.Fatal("no detail for db")
	}
	if len(d.Probes) != probeHistory {
		t.Fatalf("%d probes, want %d", len(d.Probes), probeHistory)
	}
	for i := 1; i < len(d.Probes); i++ {
		if d.Probes[i].At.After(d.Probes[i-1].At) {
			t.Errorf("probes not newest first: %v after %v", d.Probes[i].At, d.Probes[i-1].At)
		}
	}
	p := d.Probes[0]
	if p.Result != ProbeFailing || p.Output != "auth failed for ***" || p.LatencyMS != 1 {
		t.Errorf("newest probe = %+v; want failing, the output redacted, 1 ms", p)
	}
	if last := d.Probes[len(d.Probes)-1]; last.Result != ProbeOK || last.Output != "" {
		t.Errorf("oldest kept probe = %+v, want an ok check", last)
	}
	if d.RestartPolicy != "on-failure:3" || d.MaxFailures == 0 || d.BackoffMaxS == 0 {
		t.Errorf("policy %q, max failures %d, backoff max %gs; want on-failure:3 and the category's", d.RestartPolicy, d.MaxFailures, d.BackoffMaxS)
	}
	if d.ContainerName != "proj-db-1" || d.ContainerID == "" || d.Name != "db" {
		t.Errorf("container %q (%q), name %q", d.ContainerName, d.ContainerID, d.Name)
	}
	if d.GPULane != nil {
		t.Errorf("GPU lane %+v for a service without a GPU", d.GPULane)
	}
	if _, ok := h.sup.Detail("nope"); ok {
		t.Error("detail for an unknown service")
	}
}

// A crashed container's exit code and the backoff left show in the detail.
func TestDetailShowsLastExitAndBackoff(t *testing.T) {
	h := newHarness(t, `
services:
  web: {image: x, healthcheck: {test: 'true', interval: 1s}}
`, Config{})
	h.start()
	h.until("running", time.Minute, h.is("web", Running))
	h.engine.mu.Lock()
	h.engine.exitCode["web"] = 3
	h.engine.mu.Unlock()
	if err := h.sup.Restart(t.Context(), "web", false); err != nil {
		t.Fatal(err)
	}
	h.until("in backoff", time.Minute, func() bool { return h.status("web").NextRestartAt != nil })
	d, _ := h.sup.Detail("web")
	if d.LastExit == nil || d.LastExit.Code != 3 {
		t.Errorf("last exit %+v, want code 3", d.LastExit)
	}
	if d.BackoffRemainingS <= 0 || d.BackoffRemainingS > d.BackoffMaxS {
		t.Errorf("backoff remaining %gs, want within (0, %g]", d.BackoffRemainingS, d.BackoffMaxS)
	}
	if d.FailureCount != 1 {
		t.Errorf("failure count %d, want 1", d.FailureCount)
	}
	// Running again, it still says how it last went down.
	h.engine.mu.Lock()
	delete(h.engine.exitCode, "web")
	h.engine.mu.Unlock()
	h.until("running again", 10*time.Minute, h.is("web", Running))
	if d, _ := h.sup.Detail("web"); d.LastExit == nil || d.LastExit.Code != 3 || d.BackoffRemainingS != 0 {
		t.Errorf("after the restart: last exit %+v, backoff %gs; want code 3 kept and no backoff", d.LastExit, d.BackoffRemainingS)
	}
}

// A GPU service's detail says which GPUs, and whether it holds the lane
// or is queued behind the one that does.
func TestDetailGPULane(t *testing.T) {
	h := newHarness(t, `
services:
  llm:
    image: x
    healthcheck: {test: 'true', interval: 1s}
    deploy: {resources: {reservations: {devices: [{driver: nvidia, device_ids: ['0'], capabilities: [gpu]}]}}}
  clip:
    image: x
    healthcheck: {test: 'true', interval: 1s}
    deploy: {resources: {reservations: {devices: [{driver: nvidia, count: 1, capabilities: [gpu]}]}}}
`, Config{})
	gate := gpu.NewGate(twoGPUs{}, h.clock, slog.New(slog.NewTextHandler(io.Discard, nil)), gpu.GateConfig{SettleWindow: 5 * time.Second, SettleTimeout: time.Hour, PollInterval: 500 * time.Millisecond})
	h.sup = New(h.stack, h.plan, Config{}, Deps{
		Engine: h.engine,
		Probes: func(svc *compose.Service) Prober {
			return fakeProber{health: h.health, engine: h.engine, service: svc.Name}
		},
		Gate:   gate,
		Store:  h.store,
		Clock:  h.clock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	h.health.set("llm", false)
	h.health.set("clip", false)
	h.start()
	h.until("one of them started", time.Minute, func() bool {
		return len(h.engine.startsOf("llm"))+len(h.engine.startsOf("clip")) == 1
	})
	first, second := "llm", "clip"
	if len(h.engine.startsOf("clip")) == 1 {
		first, second = "clip", "llm"
	}
	h.until(second+" queued", time.Minute, func() bool {
		d, _ := h.sup.Detail(second)
		return d.GPULane != nil && d.GPULane.State == LaneQueued
	})
	d1, _ := h.sup.Detail(first)
	if l := d1.GPULane; l == nil || l.State != LaneHolding || l.Since == nil || len(l.Devices) != 1 || l.Devices[0] != "0" {
		t.Errorf("%s lane = %+v, want holding GPU 0", first, l)
	}
	d2, _ := h.sup.Detail(second)
	if l := d2.GPULane; !strings.Contains(l.Reason, first) || !strings.Contains(l.String(), "queued on GPU 0") {
		t.Errorf("%s lane = %+v (%s), want queued on GPU 0 naming %s", second, l, l, first)
	}
	h.health.set(first, true)
	h.health.set(second, true)
	h.until("both running", time.Minute, h.allRunning)
	h.until("lanes idle", time.Minute, func() bool {
		d, _ := h.sup.Detail(second)
		return d.GPULane.State == LaneIdle
	})
}
