package gpu

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hostagent/hostagent/internal/clock"
)

// startSettle acquires the lane for r and runs Settle in a goroutine.
func startSettle(t *testing.T, g *Gate, r Request, healthy <-chan struct{}, track ...string) (*Slot, <-chan SettleResult) {
	t.Helper()
	s, err := g.Acquire(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Release)
	s.Track(track...)
	ch := make(chan SettleResult, 1)
	go func() { ch <- s.Settle(t.Context(), healthy) }()
	return s, ch
}

// tick waits for Settle to park on its two timers (timeout and poll), lets
// the test change the GPU, then advances one poll.
func tick(t *testing.T, clk *clock.Fake, change func()) {
	t.Helper()
	waitersReach(t, clk, 2)
	if change != nil {
		change()
	}
	clk.Advance(time.Second)
}

// untilDone ticks with no change until Settle returns.
func untilDone(t *testing.T, clk *clock.Fake, res <-chan SettleResult) SettleResult {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case r := <-res:
			return r
		default:
		}
		if clk.Waiters() >= 2 {
			clk.Advance(time.Second)
		} else {
			time.Sleep(100 * time.Microsecond)
		}
	}
	t.Fatal("Settle did not return")
	return SettleResult{}
}

func TestSettleAfterStepsThenFlat(t *testing.T) {
	src := newFakeSource(80 * gib)
	src.setUsed(0, 2*gib) // a neighbour
	g, clk, _ := testGate(t, src, 0)
	_, res := startSettle(t, g, Request{Service: "ai-llm"}, nil)
	for i := range 4 { // +3 GiB a second for 4 s
		tick(t, clk, func() { src.setUsed(0, 2*gib+uint64(i+1)*3*gib) })
	}
	r := untilDone(t, clk, res)
	if r.Outcome != OutcomeSettled {
		t.Fatalf("outcome %v, want settled", r.Outcome)
	}
	// Last growth at 4 s, window 5 s.
	if r.Elapsed != 9*time.Second {
		t.Errorf("settled after %v, want 9s", r.Elapsed)
	}
	if r.DeviceDeltaBytes != int64(12*gib) {
		t.Errorf("device delta %s, want 12 GiB", formatBytes(uint64(r.DeviceDeltaBytes)))
	}
	if r.PeakKnown {
		t.Errorf("peak known with no tracked container")
	}
	if l, ok := r.Learned(); !ok || l != 12*gib {
		t.Errorf("Learned() = %s, %v; want the device delta", formatBytes(l), ok)
	}
}

func TestSettleStillGrowingIsBoundedByTimeout(t *testing.T) {
	src := newFakeSource(80 * gib)
	g, clk, _ := testGate(t, src, 0)
	_, res := startSettle(t, g, Request{Service: "ai-enrichment"}, nil)
	for range 60 { // +512 MiB every second, past the 60 s timeout
		tick(t, clk, func() { src.addUsed(0, int64(512*mib)) })
	}
	r := recv(t, res, "settle")
	if r.Outcome != OutcomeTimedOut || r.Elapsed != 60*time.Second {
		t.Fatalf("got %v after %v, want timed out after 60s", r.Outcome, r.Elapsed)
	}
}

func TestSettleStartThatNeverGrowsWaitsForTimeout(t *testing.T) {
	src := newFakeSource(80 * gib)
	g, clk, _ := testGate(t, src, 0)
	_, res := startSettle(t, g, Request{Service: "ai-llm"}, nil)
	// Flat use for longer than the window is a server still loading its
	// weights, not a settled one.
	r := untilDone(t, clk, res)
	if r.Outcome != OutcomeTimedOut || r.Elapsed != 60*time.Second {
		t.Fatalf("got %v after %v, want timed out after 60s", r.Outcome, r.Elapsed)
	}
	if _, ok := r.Learned(); ok {
		t.Errorf("learned something from no growth")
	}
}

func TestSettleHealthyEndsEarly(t *testing.T) {
	src := newFakeSource(80 * gib)
	g, clk, _ := testGate(t, src, 0)
	healthy := make(chan struct{})
	_, res := startSettle(t, g, Request{Service: "ai-yolo26"}, healthy)
	tick(t, clk, func() { src.setUsed(0, 2*gib) })
	tick(t, clk, func() { src.setUsed(0, 4*gib) })
	waitersReach(t, clk, 2)
	close(healthy)
	r := recv(t, res, "settle after healthy")
	if r.Outcome != OutcomeHealthy || r.Elapsed != 2*time.Second {
		t.Fatalf("got %v after %v, want healthy after 2s", r.Outcome, r.Elapsed)
	}
	if clk.Waiters() != 0 {
		t.Errorf("Settle left %d timers armed", clk.Waiters())
	}
}

func TestSettleLearnsTrackedContainerPeak(t *testing.T) {
	const (
		llm   = "4f2a9c0d1b3e5f7a9c0d1b3e5f7a9c0d1b3e5f7a9c0d1b3e5f7a9c0d1b3e5f7a"
		other = "0000000000000000000000000000000000000000000000000000000000000001"
	)
	src := newFakeSource(80 * gib)
	neighbour := Process{PID: 10, UsedBytes: 4 * gib, ContainerID: other}
	src.setProcesses(0, 0, neighbour)
	g, clk, _ := testGate(t, src, 0)
	// Tracked by the 12-hex short ID the engine prints.
	_, res := startSettle(t, g, Request{Service: "ai-llm"}, nil, llm[:12])
	for _, use := range []uint64{gib, 3 * gib, 6 * gib, 5 * gib} { // peaks at 6, then frees a bit
		tick(t, clk, func() {
			src.setProcesses(0, 0, neighbour, Process{PID: 20, UsedBytes: use, ContainerID: llm})
		})
	}
	r := untilDone(t, clk, res)
	if r.Outcome != OutcomeSettled || r.Elapsed != 8*time.Second {
		t.Fatalf("got %v after %v, want settled after 8s (last growth at 3s)", r.Outcome, r.Elapsed)
	}
	if !r.PeakKnown || r.PeakBytes != 6*gib {
		t.Fatalf("peak %s known=%v, want 6.0 GiB (neighbour left out)", formatBytes(r.PeakBytes), r.PeakKnown)
	}
	if l, _ := r.Learned(); l != 6*gib {
		t.Errorf("Learned() = %s", formatBytes(l))
	}
	if got := src.Snapshot(t.Context()).UsageByContainer(); got[llm] != 5*gib || got[other] != 4*gib {
		t.Errorf("UsageByContainer = %v", got)
	}
}

// A restart is admitted while the old instance still holds its memory; the
// new instance climbing back to the same level must count as growth.
func TestSettleRestartGrowsBackToOldLevel(t *testing.T) {
	src := newFakeSource(80 * gib)
	src.setUsed(0, 10*gib)
	g, clk, _ := testGate(t, src, 0)
	s, err := g.Acquire(t.Context(), Request{Service: "ai-llm", Op: OpRestart})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	src.setUsed(0, 0) // the old container stopped
	res := make(chan SettleResult, 1)
	go func() { res <- s.Settle(t.Context(), nil) }()
	tick(t, clk, func() { src.setUsed(0, 5*gib) })
	tick(t, clk, func() { src.setUsed(0, 10*gib) })
	r := untilDone(t, clk, res)
	if r.Outcome != OutcomeSettled || r.Elapsed != 7*time.Second {
		t.Fatalf("got %v after %v, want settled after 7s", r.Outcome, r.Elapsed)
	}
	if r.DeviceDeltaBytes != 0 {
		t.Errorf("device delta %d, want 0", r.DeviceDeltaBytes)
	}
}

func TestSettleStopWaitsUntilMemoryIsFreed(t *testing.T) {
	const id = "aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44"
	src := newFakeSource(80 * gib)
	src.setProcesses(0, gib, Process{PID: 7, UsedBytes: 20 * gib, ContainerID: id})
	g, clk, _ := testGate(t, src, 0)
	_, res := startSettle(t, g, Request{Service: "ai-llm", Op: OpStop}, nil, id)
	// The driver frees the memory over two seconds after the stop.
	tick(t, clk, func() { src.setProcesses(0, gib, Process{PID: 7, UsedBytes: 8 * gib, ContainerID: id}) })
	tick(t, clk, func() { src.setProcesses(0, gib) })
	r := untilDone(t, clk, res)
	if r.Outcome != OutcomeSettled || r.Elapsed != 7*time.Second {
		t.Fatalf("got %v after %v, want settled after 7s", r.Outcome, r.Elapsed)
	}
	if r.DeviceDeltaBytes != -int64(20*gib) {
		t.Errorf("device delta %d, want -20 GiB", r.DeviceDeltaBytes)
	}
}

func TestSettleCancelled(t *testing.T) {
	src := newFakeSource(80 * gib)
	g, clk, _ := testGate(t, src, 0)
	s, err := g.Acquire(t.Context(), Request{Service: "ai-llm"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	ctx, cancel := context.WithCancel(t.Context())
	res := make(chan SettleResult, 1)
	go func() { res <- s.Settle(ctx, nil) }()
	waitersReach(t, clk, 2)
	cancel()
	if r := recv(t, res, "cancelled settle"); r.Outcome != OutcomeCancelled {
		t.Fatalf("outcome %v", r.Outcome)
	}
	if clk.Waiters() != 0 {
		t.Errorf("%d timers left armed", clk.Waiters())
	}
}

func TestEnumStrings(t *testing.T) {
	for v, want := range map[interface{ String() string }]string{
		OpStart: "start", OpStop: "stop", OpRestart: "restart", Op(9): "Op(9)",
		OutcomeSettled: "settled", OutcomeHealthy: "healthy", OutcomeTimedOut: "timed out",
		OutcomeCancelled: "cancelled", OutcomeUnmonitored: "unmonitored", Outcome(9): "Outcome(9)",
	} {
		if got := v.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
	if got := formatBytes(512 * mib); got != "512 MiB" {
		t.Errorf("formatBytes(512 MiB) = %q", got)
	}
	if !strings.HasPrefix(formatBytes(3*gib/2), "1.5 GiB") {
		t.Errorf("formatBytes(1.5 GiB) = %q", formatBytes(3*gib/2))
	}
}
