package supervisor

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const layered = `
services:
  db: {image: postgres, healthcheck: {test: 'true', interval: 1s, retries: 2, start_period: 2s}}
  cache: {image: redis, healthcheck: {test: 'true', interval: 1s, retries: 2, start_period: 2s}}
  model: {image: x, x-hostagent: {category: ai}, healthcheck: {test: 'true', interval: 1s, retries: 2, start_period: 5s}}
  api:
    image: x
    healthcheck: {test: 'true', interval: 1s, retries: 2, start_period: 3s}
    depends_on: {db: {condition: service_healthy}, model: {condition: service_healthy}}
  other:
    image: x
    healthcheck: {test: 'true', interval: 1s, retries: 2}
    depends_on: {cache: {condition: service_healthy}}
  web:
    image: nginx
    x-hostagent: {category: frontend}
    healthcheck: {test: 'true', interval: 1s}
    depends_on: {api: {condition: service_healthy}}
`

func TestBringUpRespectsEveryDependency(t *testing.T) {
	h := newHarness(t, layered, Config{})
	h.start()
	h.until("all running", time.Minute, h.allRunning)
	order := h.engine.startOrder()
	pos := map[string]int{}
	for i, s := range order {
		pos[s] = i
	}
	for _, ps := range h.plan.Services {
		for _, w := range ps.Waits {
			if pos[w.Service] >= pos[ps.Name] {
				t.Errorf("%s started before %s, which it waits for (order %v)", ps.Name, w.Service, order)
			}
		}
	}
	if len(order) != 6 {
		t.Errorf("starts = %v, want each service once", order)
	}
	if p := h.sup.Progress(); !p.Done || p.Running != 6 {
		t.Errorf("progress = %+v", p)
	}
}

func TestUnhealthyDependencyHoldsOnlyItsHardDependents(t *testing.T) {
	h := newHarness(t, layered, Config{})
	h.health.set("model", false)
	h.start()
	h.until("other running", time.Minute, h.is("other", Running))
	h.until("model unhealthy", time.Minute, h.is("model", Unhealthy))
	api := h.status("api")
	if api.Status == Running || api.Status == Starting || !slices.Contains(api.WaitingFor, "model (healthy)") {
		t.Errorf("api = %s waiting for %v, want held waiting for model (healthy)", api.Status, api.WaitingFor)
	}
	web := h.status("web")
	if !slices.Contains(web.WaitingFor, "api (healthy)") {
		t.Errorf("web waiting for %v, want api (healthy)", web.WaitingFor)
	}
	for _, s := range []string{"db", "cache", "other"} {
		if st := h.status(s).Status; st != Running {
			t.Errorf("%s = %s, want running: the rest of the stack comes up", s, st)
		}
	}
	p := h.sup.Progress()
	if p.Done || !slices.Contains(p.Waiting, "model") {
		t.Errorf("progress = %+v, want phase of model not done", p)
	}
	h.health.set("model", true)
	h.until("all running after model recovers", 10*time.Minute, h.allRunning)
}

func TestSoftDependencyNeverBlocks(t *testing.T) {
	h := newHarness(t, `
services:
  flaky: {image: x, healthcheck: {test: 'true', interval: 1s, retries: 1, start_period: 1s}, x-hostagent: {restart: {backoff_base: 1h}}}
  app:
    image: x
    healthcheck: {test: 'true', interval: 1s}
    depends_on: {flaky: {condition: service_healthy, required: false}}
`, Config{})
	h.health.set("flaky", false)
	h.start()
	h.until("app running although its soft dependency failed", time.Minute, h.is("app", Running))
	if st := h.status("flaky").Status; st != Unhealthy {
		t.Errorf("flaky = %s, want unhealthy", st)
	}
}

func TestCrashLoopBackoffTableThenDisabled(t *testing.T) {
	h := newHarness(t, `
services:
  loop:
    image: x
    healthcheck: {test: 'true', interval: 1s}
    x-hostagent: {restart: {max_failures: 7, backoff_base: 5s, backoff_max: 300s}}
`, Config{})
	h.step = time.Second
	h.engine.crash["loop"] = true
	h.start()
	h.until("disabled", time.Hour, h.is("loop", Disabled))
	starts := h.engine.startsOf("loop")
	if len(starts) != 8 {
		t.Fatalf("starts = %d, want 1 + 7 restarts", len(starts))
	}
	want := []time.Duration{5, 10, 20, 40, 80, 160, 300}
	for i, w := range want {
		got := starts[i+1].Sub(starts[i])
		// Fake time keeps moving while the crash is noticed under load: a
		// few steps of slack, far less than the next row of the table.
		if got < w*time.Second || got > w*time.Second+3*h.step {
			t.Errorf("delay before restart %d = %s, want %ds", i+1, got, w)
		}
	}
	settleReal() // the disable event follows the status change
	st := h.status("loop")
	if st.Enabled || st.FailureCount != 8 {
		t.Errorf("status = %+v, want disabled with 8 failures", st)
	}
	msgs := messagesOf(h.sup.Events(0), "loop")
	if msgs[len(msgs)-1] != "Service disabled - max failures reached" {
		t.Errorf("last message = %q", msgs[len(msgs)-1])
	}
	settleReal()
	h.clock.Advance(time.Hour)
	settleReal()
	if n := len(h.engine.startsOf("loop")); n != 8 {
		t.Errorf("a disabled service was restarted (%d starts)", n)
	}
}

func TestKillIsDetectedAndRestarted(t *testing.T) {
	h := newHarness(t, layered, Config{})
	h.start()
	h.until("all running", time.Minute, h.allRunning)
	h.engine.kill("api")
	h.until("api stopped", time.Second, func() bool { return h.status("api").Status != Running })
	h.until("api running again", time.Minute, func() bool {
		s := h.status("api")
		return s.Status == Running && s.RestartCount == 1
	})
	s := h.status("api")
	if s.FailureCount != 1 || s.LastRestartAt == nil {
		t.Errorf("api = %+v, want failure_count 1 and a last restart time", s)
	}
	msgs := messagesOf(h.sup.Events(0), "api")
	want := []string{"Container stopped", "Restart initiated", "Restart completed", "Service recovered"}
	if got := msgs[len(msgs)-4:]; !reflect.DeepEqual(got, want) {
		t.Errorf("messages = %v, want them to end with %v", msgs, want)
	}
	starts := h.engine.startsOf("api")
	if d := starts[1].Sub(starts[0]); d < 2*time.Second {
		t.Errorf("restart came %s after the first start; the application backoff starts at 2s", d)
	}
}

func TestUnhealthyAfterRetriesIsRestarted(t *testing.T) {
	h := newHarness(t, layered, Config{})
	h.start()
	h.until("all running", time.Minute, h.allRunning)
	before := h.health.count("db")
	h.health.set("db", false)
	h.until("db unhealthy", time.Minute, h.is("db", Unhealthy))
	if n := h.health.count("db") - before; n != 2 {
		t.Errorf("db became unhealthy after %d failed checks, want retries = 2", n)
	}
	h.health.set("db", true)
	h.until("db restarted and running", time.Minute, func() bool {
		s := h.status("db")
		return s.Status == Running && s.RestartCount == 1
	})
}

func TestGracePeriodIgnoresEarlyFailures(t *testing.T) {
	h := newHarness(t, `
services:
  slow: {image: x, healthcheck: {test: 'true', interval: 1s, retries: 1, start_period: 60s}}
`, Config{})
	h.step = time.Second
	h.health.set("slow", false)
	h.start()
	h.until("58s into the grace period", time.Minute, func() bool {
		return len(h.engine.startsOf("slow")) == 1 && h.clock.Since(h.engine.startsOf("slow")[0]) >= 58*time.Second
	})
	if s := h.status("slow"); s.Status != Starting || s.FailureCount != 0 {
		t.Fatalf("in grace: %+v, want starting with no failures", s)
	}
	h.until("unhealthy after the grace period", 10*time.Second, func() bool {
		return slices.Contains(messagesOf(h.sup.Events(0), "slow"), "Health check failed")
	})
	for _, e := range h.sup.Events(0) {
		if e.Message == "Health check failed" {
			if e.Data.FailureCount != 1 || e.Time.Sub(h.engine.startsOf("slow")[0]) < 60*time.Second {
				t.Errorf("first failure %+v, want failure_count 1 after the 60s grace period", e.Data)
			}
			break
		}
	}
}

func TestFailureCountResetsAfterStableWindow(t *testing.T) {
	h := newHarness(t, layered, Config{StableWindow: time.Minute})
	h.step = time.Second
	h.start()
	h.until("all running", time.Minute, h.allRunning)
	h.engine.kill("cache")
	h.until("cache restarted", time.Minute, func() bool {
		s := h.status("cache")
		return s.Status == Running && s.RestartCount == 1
	})
	if s := h.status("cache"); s.FailureCount != 1 {
		t.Fatalf("failure count = %d after one kill", s.FailureCount)
	}
	h.until("failure count reset", 2*time.Minute, func() bool { return h.status("cache").FailureCount == 0 })
	recovered := h.status("cache")
	if recovered.LastRestartAt == nil || h.clock.Since(*recovered.LastRestartAt) < time.Minute {
		t.Errorf("failure count reset too early: %s after the restart", h.clock.Since(*recovered.LastRestartAt))
	}
}

func TestCascadeRestartsRestartTrueDependents(t *testing.T) {
	h := newHarness(t, `
services:
  db: {image: postgres, healthcheck: {test: 'true', interval: 1s}}
  api:
    image: x
    healthcheck: {test: 'true', interval: 1s}
    depends_on: {db: {condition: service_healthy, restart: true}}
  worker:
    image: x
    healthcheck: {test: 'true', interval: 1s}
    depends_on: {db: {condition: service_healthy}}
`, Config{})
	h.start()
	h.until("all running", time.Minute, h.allRunning)
	h.engine.kill("db")
	h.until("api restarted after db", time.Minute, func() bool {
		return h.status("db").RestartCount == 1 && h.status("api").RestartCount == 1 && h.status("api").Status == Running
	})
	dbStarts, apiStarts := h.engine.startsOf("db"), h.engine.startsOf("api")
	if !apiStarts[1].After(dbStarts[1]) && !apiStarts[1].Equal(dbStarts[1]) {
		t.Errorf("api restarted at %s, before db at %s", apiStarts[1], dbStarts[1])
	}
	if s := h.status("api"); s.FailureCount != 0 {
		t.Errorf("a cascade restart counted as a failure: %+v", s)
	}
	settleReal()
	if n := len(h.engine.startsOf("worker")); n != 1 {
		t.Errorf("worker (no restart: true) was restarted: %d starts", n)
	}
}

func TestManualAndAutomaticRestartNeverBothRun(t *testing.T) {
	h := newHarness(t, layered, Config{})
	h.start()
	h.until("all running", time.Minute, h.allRunning)
	gate := make(chan struct{})
	h.engine.mu.Lock()
	h.engine.block["db"] = gate
	h.engine.mu.Unlock()
	h.engine.kill("db")
	h.until("automatic restart in flight", time.Minute, func() bool {
		_, _, stops := h.engine.counts()
		return h.status("db").Status == Stopped && h.clock.Since(h.engine.startsOf("db")[0]) > 3*time.Second && stops >= 0 && h.sup.runners["db"] != nil && isActing(h, "db")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.sup.Restart(ctx, "db", true); err != nil {
		t.Fatal(err)
	}
	close(gate)
	h.until("db running", time.Minute, h.is("db", Running))
	settleReal()
	h.clock.Advance(10 * time.Second)
	settleReal()
	if n := len(h.engine.startsOf("db")); n != 2 {
		t.Errorf("db started %d times, want 2 (one bring-up, one restart: the manual request joined the automatic one)", n)
	}
	if s := h.status("db"); s.FailureCount != 0 || s.RestartCount != 1 {
		t.Errorf("db = %+v, want failures reset and one restart", s)
	}
	msgs := messagesOf(h.sup.Events(0), "db")
	if !slices.Contains(msgs, "Manual restart initiated") {
		t.Errorf("messages %v lack the manual restart", msgs)
	}
}

// isActing peeks at the runner through a snapshot-free path: an action is in
// flight when the engine's Start is blocked.
func isActing(h *harness, name string) bool {
	h.engine.mu.Lock()
	defer h.engine.mu.Unlock()
	_, blocked := h.engine.block[name]
	return blocked && len(h.engine.starts) > 0
}

func TestManualDisableEnableAndRestart(t *testing.T) {
	h := newHarness(t, layered, Config{})
	h.start()
	h.until("all running", time.Minute, h.allRunning)
	ctx := context.Background()
	if err := h.sup.Disable(ctx, "cache"); err != nil {
		t.Fatal(err)
	}
	h.engine.kill("cache")
	settleReal()
	h.clock.Advance(5 * time.Minute)
	settleReal()
	if s := h.status("cache"); s.Status != Disabled || s.Enabled || len(h.engine.startsOf("cache")) != 1 {
		t.Fatalf("disabled cache = %+v, starts %d; want no auto-restart", s, len(h.engine.startsOf("cache")))
	}
	if err := h.sup.Enable(ctx, "cache"); err != nil {
		t.Fatal(err)
	}
	h.until("cache back after enable", time.Minute, h.is("cache", Running))
	if err := h.sup.Restart(ctx, "web", false); err != nil {
		t.Fatal(err)
	}
	h.until("web restarted", time.Minute, func() bool { return h.status("web").RestartCount == 1 && h.status("web").Status == Running })
	msgs := messagesOf(h.sup.Events(0), "cache")
	for _, want := range []string{"Service disabled", "Service enabled"} {
		if !slices.Contains(msgs, want) {
			t.Errorf("cache messages %v lack %q", msgs, want)
		}
	}
	if err := h.sup.Restart(ctx, "nope", false); !errors.Is(err, ErrUnknownService) {
		t.Errorf("restart of unknown service: %v", err)
	}
}

func TestAgentRestartResumesCountsAndAdopts(t *testing.T) {
	h := newHarness(t, layered, Config{})
	h.start()
	h.until("all running", time.Minute, h.allRunning)
	h.engine.kill("api")
	h.until("api restarted", time.Minute, func() bool { return h.status("api").RestartCount == 1 && h.status("api").Status == Running })
	if err := h.sup.Disable(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	h.stop()
	creates, starts, _ := h.engine.counts()

	h.build(Config{})
	h.start()
	h.until("adopted and running", time.Minute, func() bool {
		for _, s := range h.sup.Services() {
			if s.Name != "web" && s.Status != Running {
				return false
			}
		}
		return true
	})
	api, web := h.status("api"), h.status("web")
	if api.RestartCount != 1 || api.FailureCount != 1 {
		t.Errorf("api after agent restart = %+v, want the same counts", api)
	}
	if web.Enabled || web.Status != Disabled {
		t.Errorf("web after agent restart = %+v, want still disabled", web)
	}
	c2, s2, _ := h.engine.counts()
	if c2 != creates || s2 != starts {
		t.Errorf("agent restart created %d and started %d containers; want none (adopted)", c2-creates, s2-starts)
	}
	msgs := messagesOf(h.sup.Events(0), "db")
	if len(msgs) == 0 || msgs[0] != "Service discovered" {
		t.Errorf("db messages after agent restart = %v, want Service discovered first", msgs)
	}
}

func TestCreateFailureIsAClearStatus(t *testing.T) {
	h := newHarness(t, `
services:
  broken: {image: nothere, x-hostagent: {restart: {max_failures: 2, backoff_base: 1s}}}
`, Config{})
	h.engine.createErr["broken"] = errors.New("image nothere: image not known")
	h.start()
	h.until("disabled", time.Minute, h.is("broken", Disabled))
	s := h.status("broken")
	if !strings.Contains(s.Detail, "image not known") && !strings.Contains(s.Detail, "max failures") {
		t.Errorf("detail = %q, want the engine's reason or the disable reason", s.Detail)
	}
	evs := h.sup.Events(0)
	found := false
	for _, e := range evs {
		if e.Message == "Start failed" && strings.Contains(e.Data.Detail, "image not known") {
			found = true
		}
	}
	if !found {
		t.Errorf("no Start failed event naming the cause: %+v", messagesOf(evs, "broken"))
	}
}

func TestSubscribersSeeEventsAndSlowOnesNeverBlock(t *testing.T) {
	h := newHarness(t, layered, Config{})
	events, unsubscribe := h.sup.Subscribe(1000)
	defer unsubscribe()
	_, stuck := h.sup.Subscribe(1) // never read
	_ = stuck
	h.start()
	h.until("all running", time.Minute, h.allRunning)
	seen := map[string]bool{}
	var last uint64
	for len(events) > 0 {
		e := <-events
		if e.Seq <= last {
			t.Fatalf("events out of order: %d after %d", e.Seq, last)
		}
		last = e.Seq
		if e.Type != "service_status" {
			t.Fatalf("type = %q", e.Type)
		}
		seen[e.Data.Name+":"+e.Message] = true
	}
	for _, want := range []string{"db:Service started", "db:Service healthy", "web:Service healthy"} {
		if !seen[want] {
			t.Errorf("no event %q", want)
		}
	}
}

func TestUptimeIsComputedWhenRead(t *testing.T) {
	h := newHarness(t, layered, Config{})
	h.start()
	h.until("all running", time.Minute, h.allRunning)
	before := h.status("db").UptimeSeconds
	h.clock.Advance(90 * time.Second)
	if got := h.status("db").UptimeSeconds; got < before+90 {
		t.Errorf("uptime %d after 90s more, was %d", got, before)
	}
}

func TestProcessExitIsActedOnBeforeTheEngineKnows(t *testing.T) {
	h := newHarness(t, layered, Config{})
	exits := &fakeExits{watches: map[int]chan struct{}{}}
	h.sup.exits = exits
	h.start()
	h.until("all running", time.Minute, h.allRunning)
	h.engine.mu.Lock()
	pid := h.engine.ctrs[h.engine.byService["cache"]].PID
	h.engine.mu.Unlock()
	// The engine still reports the container running: only the pidfd knows.
	if !exits.exit(pid) {
		t.Fatalf("no exit watch on cache's process %d", pid)
	}
	h.until("cache restarted on the exit signal alone", time.Minute, func() bool {
		s := h.status("cache")
		return s.RestartCount == 1 && s.Status == Running
	})
	if _, _, stops := h.engine.counts(); stops != 1 {
		t.Errorf("stops = %d, want the restart to stop the container first", stops)
	}
	if !slices.Contains(messagesOf(h.sup.Events(0), "cache"), "Container stopped") {
		t.Error("no Container stopped event for the exit")
	}
}

func TestRunnerDoesNotSpinWhileAProbeIsInFlight(t *testing.T) {
	h := newHarness(t, layered, Config{})
	h.start()
	h.until("all running", time.Minute, h.allRunning)
	release := make(chan struct{})
	h.sup.runners["db"].probe = blockingProber{release}
	// The next check of db is due and hangs; time moves past its deadline.
	h.clock.Advance(2 * time.Second)
	settleReal()
	before := h.sup.runners["db"].wakes.Load()
	time.Sleep(50 * time.Millisecond)
	if n := h.sup.runners["db"].wakes.Load() - before; n > 1 {
		t.Errorf("db's runner woke %d times in 50ms while its probe hung: a busy loop", n)
	}
	close(release)
}

type blockingProber struct{ release chan struct{} }

func (b blockingProber) Probe(ctx context.Context, _ string) ProbeResult {
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return ProbeResult{Healthy: true}
}
