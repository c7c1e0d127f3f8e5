package supervisor

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// jobStack: a migration job the app waits on to complete.
func jobStack(restart string) string {
	r := ""
	if restart != "" {
		r = "\n    restart: " + restart
	}
	return `
services:
  db: {image: postgres, healthcheck: {test: 'true', interval: 1s}}
  migrate:
    image: x` + r + `
    depends_on: {db: {condition: service_healthy}}
  app:
    image: x
    healthcheck: {test: 'true', interval: 1s}
    depends_on: {migrate: {condition: service_completed_successfully}}
`
}

func TestOneShotJobRunsOnceThenItsDependentStarts(t *testing.T) {
	cases := []struct {
		name    string
		restart string
		atOnce  bool // exits before the start returns, or later while running
	}{
		{"restart no, exits at once", `"no"`, true},
		{"restart no, exits later", `"no"`, false},
		{"restart unset: awaited job is one-shot", "", true},
		{"on-failure, exits later", "on-failure", false},
		{"on-failure:2, exits at once", `"on-failure:2"`, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, jobStack(c.restart), Config{})
			if c.atOnce {
				h.engine.exitCode["migrate"] = 0
			}
			h.start()
			if !c.atOnce {
				h.until("migrate started", time.Minute, func() bool { return len(h.engine.startsOf("migrate")) == 1 })
				h.clock.Advance(3 * time.Second)
				h.engine.exit("migrate", 0)
			}
			h.until("app running", time.Minute, h.is("app", Running))
			// Long enough for a few rounds of any backoff.
			for range 60 {
				h.clock.Advance(time.Second)
				time.Sleep(time.Millisecond)
			}
			settleReal()
			if n := len(h.engine.startsOf("migrate")); n != 1 {
				t.Errorf("migrate started %d times, want once", n)
			}
			m := h.status("migrate")
			if m.Status != Stopped || m.Detail != DetailCompleted || m.FailureCount != 0 {
				t.Errorf("migrate = %s %q failures %d, want stopped %q failures 0", m.Status, m.Detail, m.FailureCount, DetailCompleted)
			}
			msgs := messagesOf(h.sup.Events(0), "migrate")
			if !slices.Contains(msgs, MsgCompleted) || slices.Contains(msgs, MsgContainerDied) || slices.Contains(msgs, MsgStartFailed) {
				t.Errorf("migrate events %q, want %q and no failure", msgs, MsgCompleted)
			}
			order := h.engine.startOrder()
			if slices.Index(order, "app") < slices.Index(order, "migrate") {
				t.Errorf("start order %v: app before migrate", order)
			}
			if p := h.sup.Progress(); !p.Done || p.Completed != 1 || !strings.Contains(p.String(), "1 completed") {
				t.Errorf("progress %+v (%s), want done with 1 completed", p, p)
			}
		})
	}
}

func TestFailedJobBlocksItsDependentWithTheExitCode(t *testing.T) {
	h := newHarness(t, jobStack(`"no"`), Config{})
	h.engine.exitCode["migrate"] = 3
	h.start()
	want := "migrate (failed with exit code 3)"
	h.until("app blocked by the failed job", time.Minute, func() bool {
		return slices.Contains(h.status("app").WaitingFor, want)
	})
	for range 60 {
		h.clock.Advance(time.Second)
		time.Sleep(time.Millisecond)
	}
	settleReal()
	if n := len(h.engine.startsOf("migrate")); n != 1 {
		t.Errorf("migrate started %d times, want once (restart: no)", n)
	}
	if n := len(h.engine.startsOf("app")); n != 0 {
		t.Errorf("app started %d times, want never", n)
	}
	m := h.status("migrate")
	if m.Status != Stopped || m.FailureCount != 1 || !strings.Contains(m.Detail, "exit code 3") || !strings.Contains(m.Detail, "restart: no") {
		t.Errorf("migrate = %s %q failures %d, want stopped, the exit code and the policy named, 1 failure", m.Status, m.Detail, m.FailureCount)
	}
	if w := h.status("app").WaitingFor; !slices.Contains(w, want) {
		t.Errorf("app waits for %v, want %q", w, want)
	}
	// A manual restart runs the job again; this time it succeeds.
	delete(h.engine.exitCode, "migrate")
	h.engine.exitCode["migrate"] = 0
	if err := h.sup.Restart(context.Background(), "migrate", false); err != nil {
		t.Fatal(err)
	}
	h.until("app running after the job succeeded", time.Minute, h.is("app", Running))
}

func TestRestartNoAfterAKillStaysDownUntilRestartedByHand(t *testing.T) {
	h := newHarness(t, `
services:
  web: {image: x, restart: "no", healthcheck: {test: 'true', interval: 1s}}
`, Config{})
	h.start()
	h.until("running", time.Minute, h.is("web", Running))
	h.engine.kill("web")
	h.until("stopped", time.Minute, h.is("web", Stopped))
	for range 120 {
		h.clock.Advance(time.Second)
		time.Sleep(time.Millisecond)
	}
	settleReal()
	st := h.status("web")
	if n := len(h.engine.startsOf("web")); n != 1 || st.Status != Stopped {
		t.Fatalf("web started %d times, now %s; want once and stopped", n, st.Status)
	}
	if st.FailureCount != 1 || st.NextRestartAt != nil || !strings.Contains(st.Detail, "exited with code 137") || !strings.Contains(st.Detail, "not restarted (restart: no)") {
		t.Errorf("web = failures %d next %v detail %q, want 1 failure, no restart due, the exit and the policy in the detail", st.FailureCount, st.NextRestartAt, st.Detail)
	}
	if err := h.sup.Restart(context.Background(), "web", false); err != nil {
		t.Fatal(err)
	}
	h.until("running after a manual restart", time.Minute, h.is("web", Running))
}

func TestUnhealthyWithoutAutoRestartStaysUnhealthyAndIsReported(t *testing.T) {
	for _, restart := range []string{`"no"`, `"on-failure:3"`} {
		t.Run(restart, func(t *testing.T) {
			h := newHarness(t, `
services:
  web: {image: x, restart: `+restart+`, healthcheck: {test: 'true', interval: 1s, retries: 2}}
`, Config{})
			h.start()
			h.until("running", time.Minute, h.is("web", Running))
			h.health.set("web", false)
			h.until("unhealthy", time.Minute, h.is("web", Unhealthy))
			for range 120 {
				h.clock.Advance(time.Second)
				time.Sleep(time.Millisecond)
			}
			settleReal()
			st := h.status("web")
			if n := len(h.engine.startsOf("web")); n != 1 || st.Status != Unhealthy {
				t.Fatalf("web started %d times, now %s; want once and unhealthy", n, st.Status)
			}
			if st.FailureCount != 1 || st.NextRestartAt != nil || !strings.Contains(st.Detail, "not restarted") {
				t.Errorf("web = failures %d next %v detail %q, want 1 failure, no restart due, the reason", st.FailureCount, st.NextRestartAt, st.Detail)
			}
			if msgs := messagesOf(h.sup.Events(0), "web"); !slices.Contains(msgs, MsgHealthCheckFail) {
				t.Errorf("events %q, want %q", msgs, MsgHealthCheckFail)
			}
			// Still watched: it is seen to recover.
			h.health.set("web", true)
			h.until("recovered", time.Minute, h.is("web", Running))
		})
	}
}

func TestOnFailureRestartsOnlyNonZeroExitsAtMostN(t *testing.T) {
	cases := []struct {
		name       string
		code       int
		wantStarts int
		detail     string
	}{
		{"exit 0 stays down", 0, 1, DetailCompleted},
		{"exit 1 restarts twice", 1, 3, "restart: on-failure:2: 2 restarts used"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, `
services:
  job: {image: x, restart: "on-failure:2", x-hostagent: {restart: {backoff_base: 1s}}}
`, Config{})
			h.step = time.Second
			h.engine.exitCode["job"] = c.code
			h.start()
			h.until("held", 5*time.Minute, func() bool {
				st := h.status("job")
				return st.Status == Stopped && strings.Contains(st.Detail, c.detail)
			})
			for range 120 {
				h.clock.Advance(time.Second)
				time.Sleep(time.Millisecond)
			}
			settleReal()
			if n := len(h.engine.startsOf("job")); n != c.wantStarts {
				t.Errorf("job started %d times, want %d", n, c.wantStarts)
			}
			if st := h.status("job"); st.Status != Stopped || !st.Enabled {
				t.Errorf("job = %s enabled %v, want stopped and still enabled", st.Status, st.Enabled)
			}
		})
	}
}

func TestAgentRestartDoesNotRerunACompletedJob(t *testing.T) {
	cases := []struct {
		name      string
		prepare   func(h *harness)
		wantStart int
	}{
		{"stack up, same config: not run again", func(*harness) {}, 1},
		{"stack down: a new bring-up runs it again", func(h *harness) {
			for _, s := range []string{"db", "app"} {
				h.engine.kill(s)
			}
		}, 2},
		{"definition changed: run again", func(h *harness) {
			h.engine.mu.Lock()
			h.engine.ctrs[h.engine.byService["migrate"]].ConfigHash = "hash-old"
			h.engine.mu.Unlock()
		}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, jobStack(`"no"`), Config{})
			h.engine.exitCode["migrate"] = 0
			h.start()
			h.until("app running", time.Minute, h.is("app", Running))
			h.stop()
			c.prepare(h)
			settleReal()
			h.build(Config{})
			h.start()
			h.until("app running again", time.Minute, h.is("app", Running))
			for range 30 {
				h.clock.Advance(time.Second)
				time.Sleep(time.Millisecond)
			}
			settleReal()
			if n := len(h.engine.startsOf("migrate")); n != c.wantStart {
				t.Errorf("migrate started %d times in all, want %d", n, c.wantStart)
			}
			if m := h.status("migrate"); m.Status != Stopped || m.Detail != DetailCompleted {
				t.Errorf("migrate = %s %q, want stopped %q", m.Status, m.Detail, DetailCompleted)
			}
		})
	}
}

func TestAgentRestartKeepsAHeldServiceDown(t *testing.T) {
	const yaml = `
services:
  db: {image: postgres, healthcheck: {test: 'true', interval: 1s}}
  web: {image: x, restart: "no", healthcheck: {test: 'true', interval: 1s}}
`
	cases := []struct {
		name      string
		stackDown bool
		wantStart int
		want      Status
	}{
		{"stack up: web stays down", false, 1, Stopped},
		{"stack down: a new bring-up starts web", true, 2, Running},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, yaml, Config{})
			h.start()
			h.until("all running", time.Minute, h.allRunning)
			h.engine.kill("web")
			h.until("web held", time.Minute, h.is("web", Stopped))
			h.stop()
			if c.stackDown {
				h.engine.kill("db")
			}
			settleReal()
			h.build(Config{})
			h.start()
			h.until("db running", time.Minute, h.is("db", Running))
			for range 30 {
				h.clock.Advance(time.Second)
				time.Sleep(time.Millisecond)
			}
			settleReal()
			if n := len(h.engine.startsOf("web")); n != c.wantStart {
				t.Errorf("web started %d times in all, want %d", n, c.wantStart)
			}
			if st := h.status("web"); st.Status != c.want {
				t.Errorf("web = %s %q, want %s", st.Status, st.Detail, c.want)
			}
		})
	}
}

func TestAgentRestartKeepsAFailedJobsDependentsBlocked(t *testing.T) {
	h := newHarness(t, jobStack(`"no"`), Config{})
	h.engine.exitCode["migrate"] = 3
	h.start()
	want := "migrate (failed with exit code 3)"
	blocked := func() bool { return slices.Contains(h.status("app").WaitingFor, want) }
	h.until("app blocked", time.Minute, blocked)
	h.stop()
	settleReal()
	h.build(Config{})
	h.start()
	h.until("app blocked after the agent restart", time.Minute, blocked)
	for range 30 {
		h.clock.Advance(time.Second)
		time.Sleep(time.Millisecond)
	}
	settleReal()
	if n := len(h.engine.startsOf("migrate")); n != 1 {
		t.Errorf("migrate started %d times in all, want once", n)
	}
	if m := h.status("migrate"); m.Status != Stopped || !strings.Contains(m.Detail, "code 3") {
		t.Errorf("migrate = %s %q, want stopped with its exit code", m.Status, m.Detail)
	}
}
