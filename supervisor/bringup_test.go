package supervisor

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hostagent/hostagent/compose"
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
	c, _, _ := p.fakeEngine.counts()
	p.mu.Lock()
	p.prepared++
	p.creates = c
	p.mu.Unlock()
	return nil
}

func TestNetworksAndVolumesArePreparedBeforeTheFirstCreate(t *testing.T) {
	h := newHarness(t, layered, Config{})
	pe := &preparingEngine{fakeEngine: h.engine, release: make(chan struct{})}
	h.sup.engine = pe
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
		h := newHarness(t, yaml, Config{})
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
