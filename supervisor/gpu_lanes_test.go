package supervisor

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/gpu"
)

// twoGPUs is a snapshot source with two idle 24 GiB GPUs.
type twoGPUs struct{}

func (twoGPUs) Snapshot(context.Context) gpu.Snapshot {
	d := func(i int, uuid string) gpu.Device {
		return gpu.Device{Index: i, UUID: uuid, Name: "fake", TotalBytes: 24 * gib, FreeBytes: 24 * gib}
	}
	return gpu.Snapshot{Available: true, Devices: []gpu.Device{d(0, "GPU-0"), d(1, "GPU-1")}}
}

// Services pinned to different GPUs start together; one on a GPU that is
// busy (count 1 is GPU 0, the CDI name the engine attaches) waits.
const pinnedStack = `
services:
  llm:
    image: x
    healthcheck: {test: 'true', interval: 1s}
    deploy: {resources: {reservations: {devices: [{driver: nvidia, device_ids: ['0'], capabilities: [gpu]}]}}}
  detector:
    image: x
    healthcheck: {test: 'true', interval: 1s}
    deploy: {resources: {reservations: {devices: [{driver: nvidia, device_ids: ['1'], capabilities: [gpu]}]}}}
  clip:
    image: x
    healthcheck: {test: 'true', interval: 1s}
    deploy: {resources: {reservations: {devices: [{driver: nvidia, count: 1, capabilities: [gpu]}]}}}
`

func TestGPUServicesOnDifferentGPUsDoNotWait(t *testing.T) {
	h := newHarness(t, pinnedStack, Config{})
	gate := gpu.NewGate(twoGPUs{}, h.clock, slog.New(slog.NewTextHandler(io.Discard, nil)), gpu.GateConfig{SettleWindow: 5 * time.Second, PollInterval: 500 * time.Millisecond})
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
	for _, s := range []string{"llm", "detector", "clip"} {
		h.health.set(s, false)
	}
	h.start()
	h.until("GPU 1's service starts while GPU 0's loads", time.Minute, func() bool {
		return len(h.engine.startsOf("detector")) == 1 && len(h.engine.startsOf("llm"))+len(h.engine.startsOf("clip")) == 1
	})
	// Exactly one of the two GPU 0 services runs; the other waits for it.
	first, second := "llm", "clip"
	if len(h.engine.startsOf("clip")) == 1 {
		first, second = "clip", "llm"
	}
	settleReal()
	h.clock.Advance(3 * time.Second)
	settleReal()
	if n := len(h.engine.startsOf(second)); n != 0 {
		t.Fatalf("%s started on GPU 0 while %s was loading there", second, first)
	}
	if d := h.status(second).Detail; !strings.Contains(d, first) {
		t.Errorf("%s detail = %q, want it to name %s", second, d, first)
	}
	h.health.set(first, true)
	h.until(second+" starts once "+first+" is healthy", time.Minute, func() bool { return len(h.engine.startsOf(second)) == 1 })
}
