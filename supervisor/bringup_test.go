package supervisor

import (
	"context"
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
