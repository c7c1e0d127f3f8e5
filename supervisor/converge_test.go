package supervisor

import (
	"context"
	"slices"
	"testing"
	"time"
)

// converge runs Converge and Wait while the fake clock moves on.
func (h *harness) converge(yaml string) ConvergeReport {
	h.t.Helper()
	st, plan := loadStack(h.t, yaml)
	st.Name, plan.Project = h.stack.Name, h.stack.Name
	c, err := h.sup.Converge(context.Background(), st, plan)
	if err != nil {
		h.t.Fatal(err)
	}
	done := make(chan ConvergeReport, 1)
	go func() { done <- c.Wait(context.Background()) }()
	var rep ConvergeReport
	h.until("converge settled", 5*time.Minute, func() bool {
		select {
		case rep = <-done:
			return true
		default:
			return false
		}
	})
	return rep
}

func TestConvergeReportsChangesAndWaitsForTheRollout(t *testing.T) {
	h := newHarness(t, rolloutStack, Config{})
	h.start()
	h.until("all running", time.Minute, h.allRunning)
	h.health.set("extra", true)
	rep := h.converge(`
services:
  db: {image: postgres, healthcheck: {test: 'true', interval: 1s}}
  api:
    image: app:2
    healthcheck: {test: 'true', interval: 1s}
    depends_on: {db: {condition: service_healthy, restart: true}}
  extra: {image: x, healthcheck: {test: 'true', interval: 1s}}
`)
	if !slices.Equal(rep.Added, []string{"extra"}) || !slices.Equal(rep.Removed, []string{"web"}) ||
		!slices.Equal(rep.Recreated, []string{"api"}) || rep.Unchanged != 1 {
		t.Errorf("summary = %+v, want added [extra], removed [web], recreated [api], 1 unchanged", rep.ReloadSummary)
	}
	if !rep.Complete || !rep.OK {
		t.Fatalf("report not complete/ok: %+v", rep)
	}
	for _, s := range rep.Services {
		if s.Change != ChangeRemoved && s.Status != Running {
			t.Errorf("%s (%s) reported %s, want running", s.Name, s.Change, s.Status)
		}
	}
	if got := h.engine.recreated(); !slices.Equal(got, []string{"api"}) {
		t.Errorf("recreated %v, want [api]", got)
	}
}

func TestConvergeReportsAnAddedServiceThatFails(t *testing.T) {
	h := newHarness(t, rolloutStack, Config{})
	h.start()
	h.until("all running", time.Minute, h.allRunning)
	h.health.set("bad", false)
	rep := h.converge(rolloutStack + `
  bad:
    image: bad:1
    restart: "no"
    healthcheck: {test: 'true', interval: 1s, retries: 1}
`)
	if rep.OK {
		t.Fatalf("a service that never became healthy reported ok: %+v", rep)
	}
	if len(rep.Services) != 1 || rep.Services[0].Name != "bad" || rep.Services[0].OK {
		t.Errorf("services = %+v, want bad, not ok", rep.Services)
	}
}

func TestDownLetsGoAndReloadBringsTheStackBack(t *testing.T) {
	h := newHarness(t, rolloutStack, Config{})
	h.start()
	h.until("all running", time.Minute, h.allRunning)
	names := h.sup.Down(context.Background())
	if !slices.Equal(names, []string{"db", "api", "web"}) {
		t.Errorf("Down released %v", names)
	}
	if err := TearDown(context.Background(), h.engine, h.stack, h.plan, DownOptions{Remove: true}); err != nil {
		t.Fatal(err)
	}
	starts := len(h.engine.startsOf("db"))
	h.clock.Advance(10 * time.Minute)
	settleReal()
	h.clock.Advance(10 * time.Minute)
	settleReal()
	if n := len(h.engine.startsOf("db")); n != starts {
		t.Errorf("db started again after down (%d starts, was %d)", n, starts)
	}
	for _, s := range h.sup.Services() {
		if s.Status != Stopped || s.Detail != DetailDown {
			t.Errorf("%s after down: %s %q, want stopped with the down detail", s.Name, s.Status, s.Detail)
		}
	}
	if err := h.sup.Restart(context.Background(), "db", false); err == nil {
		t.Error("restart of a service let go by down succeeded; want ErrNotSupervised")
	}
	rep := h.converge(rolloutStack)
	if len(rep.Added) != 3 || !rep.OK {
		t.Errorf("reload after down: %+v, want all three added and running", rep)
	}
}

func TestStopServiceHoldsItUntilStart(t *testing.T) {
	h := newHarness(t, rolloutStack, Config{})
	h.start()
	h.until("all running", time.Minute, h.allRunning)
	if err := h.sup.StopService(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	h.until("web stopped", time.Minute, h.is("web", Stopped))
	starts := len(h.engine.startsOf("web"))
	h.clock.Advance(10 * time.Minute)
	settleReal()
	h.clock.Advance(10 * time.Minute)
	settleReal()
	web := h.status("web")
	if n := len(h.engine.startsOf("web")); n != starts || web.Status != Stopped || web.Detail != DetailStoppedByUser {
		t.Errorf("web after a user stop: %d starts (was %d), %s %q", n, starts, web.Status, web.Detail)
	}
	if web.FailureCount != 0 {
		t.Errorf("a user stop counted as a failure: %d", web.FailureCount)
	}
	if rec, _ := h.store.Load(context.Background()); rec["web"].Enabled || rec["web"].DisabledReason != DetailStoppedByUser {
		t.Errorf("stored record %+v: the stop would not survive an agent restart", rec["web"])
	}
	if err := h.sup.StartService(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	h.until("web running again", time.Minute, h.is("web", Running))
}

func TestStopServiceDuringAStartStopsWhatTheStartBringsUp(t *testing.T) {
	h := newHarness(t, rolloutStack, Config{})
	gate := make(chan struct{})
	h.engine.mu.Lock()
	h.engine.block = map[string]chan struct{}{"web": gate}
	h.engine.mu.Unlock()
	h.start()
	h.until("api running", time.Minute, h.is("api", Running))
	settleReal() // web's start reaches the blocked engine call
	settleReal()
	if err := h.sup.StopService(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	close(gate)
	h.until("web stopped after its start returned", time.Minute, func() bool {
		c, _ := h.engine.Inspect(context.Background(), h.engine.containerOf("web"))
		return !c.Running && h.status("web").Status == Stopped
	})
	h.clock.Advance(10 * time.Minute)
	settleReal()
	if st := h.status("web"); st.Status != Stopped || st.Detail != DetailStoppedByUser {
		t.Errorf("web = %s %q, want stopped by the user", st.Status, st.Detail)
	}
}
