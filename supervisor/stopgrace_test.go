package supervisor

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"
)

const graceStack = `
services:
  slow: {image: x, stop_grace_period: 45s}
  quick: {image: x}
`

func (f *fakeEngine) graceOf(service string) []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.stopGrace[service])
}

// Every stop the agent makes gives the container its own
// stop_grace_period, not the agent-wide default.
func TestStopsUseStopGracePeriod(t *testing.T) {
	h := newHarness(t, graceStack, Config{StopTimeout: 7 * time.Second})
	h.start()
	h.until("all running", time.Minute, h.allRunning)

	if err := h.sup.Restart(context.Background(), "slow", false); err != nil {
		t.Fatal(err)
	}
	if err := h.sup.Restart(context.Background(), "quick", false); err != nil {
		t.Fatal(err)
	}
	h.until("both stopped for the restart", time.Minute, func() bool {
		return len(h.engine.graceOf("slow")) > 0 && len(h.engine.graceOf("quick")) > 0
	})
	if got := h.engine.graceOf("slow"); got[0] != 45*time.Second {
		t.Errorf("restart stopped slow with %v, want its stop_grace_period 45s", got)
	}
	if got := h.engine.graceOf("quick"); got[0] != 7*time.Second {
		t.Errorf("restart stopped quick with %v, want the default 7s", got)
	}
	h.until("all running again", time.Minute, h.allRunning)
	h.stop()

	before := len(h.engine.graceOf("slow"))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := StopStack(context.Background(), h.engine, h.stack, h.plan, 7*time.Second, log); err != nil {
		t.Fatal(err)
	}
	if got := h.engine.graceOf("slow"); len(got) != before+1 || got[before] != 45*time.Second {
		t.Errorf("down stopped slow with %v, want 45s last", got)
	}
	if got := h.engine.graceOf("quick"); got[len(got)-1] != 7*time.Second {
		t.Errorf("down stopped quick with %v, want 7s last", got)
	}
}
