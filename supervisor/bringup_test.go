package supervisor

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/state"
)

// preparingEngine is the fake engine with networks and volumes prepared
// on request; Prepare blocks until released.
type preparingEngine struct {
	*fakeEngine
	release  chan struct{}
	mu       sync.Mutex
	prepared int
	creates  int // creates seen when Prepare returned
}

func (p *preparingEngine) Prepare(ctx context.Context, _ *compose.Stack) error {
	select {
	case <-p.release:
	case <-ctx.Done():
	}
	c, _, _ := p.counts()
	p.mu.Lock()
	p.prepared++
	p.creates = c
	p.mu.Unlock()
	return nil
}

func TestNetworksAndVolumesArePreparedBeforeTheFirstCreate(t *testing.T) {
	h := newHarness(t, layered, Config{})
	pe := &preparingEngine{fakeEngine: h.engine, release: make(chan struct{})}
	h.useEngine(pe)
	h.start()
	settleReal()
	if c, _, _ := h.engine.counts(); c != 0 {
		t.Fatalf("%d containers created while networks and volumes were being prepared", c)
	}
	close(pe.release)
	h.until("all running", time.Minute, h.allRunning)
	pe.mu.Lock()
	defer pe.mu.Unlock()
	if pe.prepared != 1 || pe.creates != 0 {
		t.Errorf("prepared %d times, with %d creates before; want once, before any", pe.prepared, pe.creates)
	}
}

// Services startable at the same instant start in the order of their
// longest remaining path, ties by name, whichever runner wakes first:
// at bring-up, and when a dependency turns healthy.
func TestStartableServicesStartLongestRemainingPathFirst(t *testing.T) {
	const yaml = `
services:
  db: {image: postgres, healthcheck: {test: 'true', interval: 1s, start_period: 1s}}
  cache: {image: redis, x-hostagent: {startup_time: 4s}, healthcheck: {test: 'true', interval: 1s}}
  a: {image: x, x-hostagent: {startup_time: 1s}, depends_on: {db: {condition: service_healthy}}}
  b: {image: x, x-hostagent: {startup_time: 3s}, depends_on: {db: {condition: service_healthy}}}
  c: {image: x, x-hostagent: {startup_time: 2s}, depends_on: {db: {condition: service_healthy}}}
  d: {image: x, x-hostagent: {startup_time: 5s}, healthcheck: {test: 'true', interval: 1s}, depends_on: {c: {condition: service_healthy}}}
  f: {image: x, x-hostagent: {startup_time: 2s}, depends_on: {db: {condition: service_healthy}}}
  e: {image: x, x-hostagent: {startup_time: 2s}, depends_on: {db: {condition: service_healthy}}}
`
	// Remaining paths: c 7s, b 3s, e 2s, f 2s, a 1s after db; cache 4s
	// and db (1s + 7s) at bring-up.
	// (d becomes startable when c is healthy, which may be before a.)
	want := []string{"db", "cache", "c", "b", "e", "f", "a"}
	for i := range 20 {
		// One start in flight: with two, two services granted one after
		// the other race to the engine (the queue's grant order with two
		// slots: TestStartQueueTwoSlotsGrantInPriorityOrder).
		h := newHarness(t, yaml, Config{StartSlots: 1})
		// Small fake-time steps: a hold lasts 250 ms of fake time, and the
		// runner it holds for needs real time to be scheduled and ask.
		h.step = 5 * time.Millisecond
		h.start()
		h.until("all running", time.Minute, h.allRunning)
		order := h.engine.startOrder()
		got := slices.DeleteFunc(slices.Clone(order), func(s string) bool { return s == "d" })
		if !slices.Equal(got, want) || slices.Index(order, "d") < slices.Index(order, "c") {
			t.Fatalf("run %d: start order %v, want %v with d after c (longest remaining path first, ties by name)", i, order, want)
		}
		h.stop()
	}
}

// imageEngine is the fake engine that tells which images are ready.
type imageEngine struct {
	*fakeEngine
	missing map[string]bool // by service
}

func (e imageEngine) ImageReady(_ context.Context, _ *compose.Stack, svc *compose.Service) (bool, error) {
	return !e.missing[svc.Name], nil
}

// A service waiting for its dependency has its container made meanwhile,
// and its start uses it: created once, started once. Not so for a
// disabled service, nor one whose image is not there yet (its start pulls
// it first).
func TestContainersAreCreatedAheadOfTheirStart(t *testing.T) {
	h := newHarness(t, `
services:
  db: {image: postgres, healthcheck: {test: 'true', interval: 1s}}
  app: {image: x, healthcheck: {test: 'true', interval: 1s}, depends_on: {db: {condition: service_healthy}}}
  off: {image: x, depends_on: {db: {condition: service_healthy}}}
  pull: {image: y, depends_on: {db: {condition: service_healthy}}}
`, Config{})
	h.useEngine(imageEngine{h.engine, map[string]bool{"pull": true}})
	if err := h.store.Save(t.Context(), state.Record{Service: "off", Enabled: false}); err != nil {
		t.Fatal(err)
	}
	h.health.set("db", false)
	h.start()
	h.until("app's container made while db is unhealthy", time.Minute, func() bool {
		c, _, _ := h.engine.counts()
		return c == 2
	})
	if n := len(h.engine.startsOf("app")); n != 0 {
		t.Fatalf("app started %d times before db was healthy", n)
	}
	settleReal()
	if c, _, _ := h.engine.counts(); c != 2 {
		t.Fatalf("%d creates before db was healthy, want 2 (db, app): none for the disabled service or the missing image", c)
	}
	h.health.set("db", true)
	h.until("app and pull running", time.Minute, func() bool { return h.is("app", Running)() && h.is("pull", Running)() })
	settleReal()
	if c, _, _ := h.engine.counts(); c != 3 || len(h.engine.startsOf("app")) != 1 {
		t.Errorf("creates %d, app starts %d; want 3 (db, app, pull) and 1", c, len(h.engine.startsOf("app")))
	}
}

// A container made ahead that failed is made again by the start, which
// reports its own error if it fails too.
func TestFailedPrecreationIsRetriedByTheStart(t *testing.T) {
	h := newHarness(t, `
services:
  db: {image: postgres, healthcheck: {test: 'true', interval: 1s}}
  app: {image: x, healthcheck: {test: 'true', interval: 1s}, depends_on: {db: {condition: service_healthy}}}
`, Config{})
	h.useEngine(imageEngine{h.engine, nil})
	h.health.set("db", false)
	h.engine.mu.Lock()
	h.engine.createErr["app"] = errors.New("engine refused")
	h.engine.mu.Unlock()
	h.start()
	h.until("db started", time.Minute, func() bool { return len(h.engine.startsOf("db")) == 1 })
	settleReal()
	h.engine.mu.Lock()
	delete(h.engine.createErr, "app")
	h.engine.mu.Unlock()
	h.health.set("db", true)
	h.until("app running", time.Minute, h.is("app", Running))
}

// pullingEngine is the fake engine where some services' images take a
// pull that ends when the test says.
type pullingEngine struct {
	*fakeEngine
	pull map[string]chan struct{}
}

func (e pullingEngine) EnsureImage(ctx context.Context, st *compose.Stack, svc *compose.Service, progress func(string)) error {
	if ch := e.pull[svc.Name]; ch != nil {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return e.fakeEngine.EnsureImage(ctx, st, svc, progress)
}

// A more critical service that is pulling its image holds the start lane
// for askWindow at most: the others start meanwhile.
func TestAPullingServiceHoldsTheLaneBriefly(t *testing.T) {
	h := newHarness(t, `
services:
  big: {image: big, x-hostagent: {startup_time: 9s}}
  small: {image: small, x-hostagent: {startup_time: 1s}}
`, Config{})
	h.step = 10 * time.Millisecond
	pulled := make(chan struct{})
	h.useEngine(pullingEngine{h.engine, map[string]chan struct{}{"big": pulled}})
	start := h.clock.Now()
	h.start()
	h.until("small started", time.Minute, func() bool { return len(h.engine.startsOf("small")) == 1 })
	if d := h.engine.startsOf("small")[0].Sub(start); d > askWindow+50*time.Millisecond {
		t.Errorf("small started %s after bring-up began, held for the pulling big; want within %s", d, askWindow)
	}
	close(pulled)
	h.until("big running", time.Minute, h.is("big", Running))
}
