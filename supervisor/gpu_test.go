package supervisor

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/gpu"
)

const gib = uint64(1) << 30

// vram is a one-GPU snapshot source whose used memory tests set.
type vram struct {
	mu   sync.Mutex
	used uint64
}

func (v *vram) Snapshot(context.Context) gpu.Snapshot {
	v.mu.Lock()
	defer v.mu.Unlock()
	total := 80 * gib
	return gpu.Snapshot{Available: true, Devices: []gpu.Device{{Index: 0, UUID: "GPU-0", Name: "fake", TotalBytes: total, UsedBytes: v.used, FreeBytes: total - v.used}}}
}

func (v *vram) set(used uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.used = used
}

const gpuStack = `
services:
  db: {image: postgres, healthcheck: {test: 'true', interval: 1s}}
  llm:
    image: x
    healthcheck: {test: 'true', interval: 1s}
    x-hostagent: {gpu: true, vram: 20GiB, startup_time: 120s}
  detector:
    image: x
    healthcheck: {test: 'true', interval: 1s}
    x-hostagent: {gpu: true, vram: 10GiB, startup_time: 60s}
  enrichment:
    image: x
    healthcheck: {test: 'true', interval: 1s}
    x-hostagent: {gpu: true, vram: 70GiB, startup_time: 180s}
  backend:
    image: x
    healthcheck: {test: 'true', interval: 1s}
    depends_on: {db: {condition: service_healthy}, llm: {condition: service_healthy}, detector: {condition: service_healthy}}
`

func gpuHarness(t *testing.T, v *vram) *harness {
	h := newHarness(t, gpuStack, Config{})
	gate := gpu.NewGate(v, h.clock, slog.New(slog.NewTextHandler(io.Discard, nil)), gpu.GateConfig{SettleWindow: 5 * time.Second, PollInterval: 500 * time.Millisecond})
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
	return h
}

func TestGPUServicesStartOneAtATimeMostCriticalFirst(t *testing.T) {
	v := &vram{}
	h := gpuHarness(t, v)
	// Each GPU service takes its memory when it starts and becomes healthy
	// a few seconds later.
	for _, s := range []string{"llm", "detector", "enrichment"} {
		h.health.set(s, false)
	}
	h.start()
	h.until("llm started", time.Minute, func() bool { return len(h.engine.startsOf("llm")) == 1 })
	v.set(20 * gib)
	settleReal()
	h.clock.Advance(3 * time.Second)
	settleReal()
	if n := len(h.engine.startsOf("detector")) + len(h.engine.startsOf("enrichment")); n != 0 {
		t.Fatalf("another GPU service started while llm was loading (%d)", n)
	}
	if d := h.status("detector").Detail; !strings.Contains(d, "llm") {
		t.Errorf("detector detail = %q, want it to say it waits for llm", d)
	}
	h.health.set("llm", true)
	h.until("detector started after llm is healthy", time.Minute, func() bool { return len(h.engine.startsOf("detector")) == 1 })
	v.set(30 * gib)
	h.health.set("detector", true)
	h.until("backend running", time.Minute, h.is("backend", Running))

	// enrichment needs 70 GiB; 50 are free: it waits, and says why.
	h.until("enrichment waits for VRAM", time.Minute, func() bool {
		return strings.Contains(h.status("enrichment").Detail, "free VRAM")
	})
	if n := len(h.engine.startsOf("enrichment")); n != 0 {
		t.Fatal("enrichment started without enough free VRAM")
	}
	v.set(5 * gib)
	h.until("enrichment started once memory was freed", time.Minute, func() bool { return len(h.engine.startsOf("enrichment")) == 1 })

	order := h.engine.startOrder()
	var gpuOrder []string
	for _, s := range order {
		if s == "llm" || s == "detector" || s == "enrichment" {
			gpuOrder = append(gpuOrder, s)
		}
	}
	if strings.Join(gpuOrder, ",") != "llm,detector,enrichment" {
		t.Errorf("GPU start order = %v, want the backend's dependencies first, longest path first", gpuOrder)
	}
}

func TestGPUGroupFailureRestartsOneAtATime(t *testing.T) {
	v := &vram{}
	h := gpuHarness(t, v)
	h.health.set("enrichment", true)
	h.start()
	h.until("all running", 5*time.Minute, h.allRunning)
	// A GPU out-of-memory: the model servers die together.
	for _, s := range []string{"llm", "detector", "enrichment"} {
		h.health.set(s, false)
		h.engine.kill(s)
	}
	h.until("one GPU service restarted", time.Minute, func() bool {
		return len(h.engine.startsOf("llm"))+len(h.engine.startsOf("detector"))+len(h.engine.startsOf("enrichment")) == 4
	})
	settleReal()
	h.clock.Advance(3 * time.Second)
	settleReal()
	if n := len(h.engine.startsOf("llm")) + len(h.engine.startsOf("detector")) + len(h.engine.startsOf("enrichment")); n != 4 {
		t.Fatalf("%d GPU starts while the first restarted one was still loading, want 4 (one at a time)", n)
	}
	for _, s := range []string{"llm", "detector", "enrichment"} {
		h.health.set(s, true)
	}
	h.until("all running again", 5*time.Minute, h.allRunning)
}
