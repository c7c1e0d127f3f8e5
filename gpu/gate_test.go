package gpu

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestGateWaitsForFreeVRAMThenAdmits(t *testing.T) {
	src := newFakeSource(80 * gib)
	free := 8.2 * float64(gib)
	src.setUsed(0, 80*gib-uint64(free))
	g, clk, rec := testGate(t, src, 0)

	got := acquireAsync(t.Context(), g, Request{Service: "ai-llm", NeedBytes: 16 * gib})
	waitersReach(t, clk, 1) // parked on the poll timer
	want := []string{"ai-llm: waiting for 16.0 GiB free VRAM (8.2 GiB free)"}
	if r := reasons(g); !slices.Equal(r, want) {
		t.Fatalf("Waiting() = %q, want %q", r, want)
	}
	for range 3 { // still short: more polls, no more log lines
		reads := src.readCount()
		clk.Advance(time.Second)
		eventually(t, "re-read after poll", func() bool { return src.readCount() > reads })
		waitersReach(t, clk, 1)
	}
	notYet(t, got, "admission with 8.2 GiB free")
	if n := rec.count("waiting for free VRAM"); n != 1 {
		t.Errorf("wait logged %d times over 4 polls, want once", n)
	}

	src.setUsed(0, 60*gib) // a neighbour freed memory: 20 GiB free
	clk.Advance(time.Second)
	a := recv(t, got, "admission")
	if a.err != nil {
		t.Fatalf("Acquire: %v", a.err)
	}
	defer a.slot.Release()
	if len(g.Waiting()) != 0 {
		t.Errorf("Waiting() after admission = %q", reasons(g))
	}
	if rec.count("gpu: admitted") != 1 {
		t.Errorf("admission after a wait not logged")
	}
}

func TestGateMarginCountsTowardsNeed(t *testing.T) {
	src := newFakeSource(24 * gib)
	src.setUsed(0, 8*gib) // 16 GiB free: exactly the need, not need + margin
	g, clk, _ := testGate(t, src, gib)
	got := acquireAsync(t.Context(), g, Request{Service: "ai-yolo26", NeedBytes: 16 * gib})
	waitersReach(t, clk, 1)
	want := []string{"ai-yolo26: waiting for 17.0 GiB free VRAM (16.0 GiB free)"}
	if r := reasons(g); !slices.Equal(r, want) {
		t.Fatalf("Waiting() = %q, want %q", r, want)
	}
	src.setUsed(0, 7*gib)
	clk.Advance(time.Second)
	a := recv(t, got, "admission")
	if a.err != nil {
		t.Fatal(a.err)
	}
	a.slot.Release()
}

func TestGateNeedThatNeverFits(t *testing.T) {
	tests := []struct {
		name    string
		totals  []uint64
		margin  uint64
		req     Request
		want    error
		wantMsg string
	}{
		{"need above total", []uint64{24 * gib}, 0,
			Request{Service: "ai-llm", NeedBytes: 30 * gib}, ErrNeverFits, "largest GPU has 24.0 GiB"},
		{"margin pushes it over", []uint64{24 * gib}, 2 * gib,
			Request{Service: "ai-llm", NeedBytes: 23 * gib}, ErrNeverFits, "23.0 GiB + 2.0 GiB margin"},
		{"assigned device too small", []uint64{80 * gib, 16 * gib}, 0,
			Request{Service: "ai-llm", NeedBytes: 20 * gib, Devices: []string{"1"}}, ErrNeverFits, "GPU 1 has 16.0 GiB"},
		{"an absurd need does not wrap around with the margin", []uint64{80 * gib}, 2 * gib,
			Request{Service: "ai-llm", NeedBytes: math.MaxUint64 - gib}, ErrNeverFits, "largest GPU has 80.0 GiB"},
		{"unknown device", []uint64{80 * gib}, 0,
			Request{Service: "ai-llm", NeedBytes: gib, Devices: []string{"GPU-zz"}}, ErrUnknownDevice, `"GPU-zz"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, _, _ := testGate(t, newFakeSource(tc.totals...), tc.margin)
			_, err := g.Acquire(t.Context(), tc.req)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) || !strings.Contains(err.Error(), "ai-llm") {
				t.Errorf("err = %q, want it to name the service and %q", err, tc.wantMsg)
			}
			if len(g.Waiting()) != 0 {
				t.Errorf("failed request left in queue: %q", reasons(g))
			}
			// The lane is free for the next one.
			s, err := g.Acquire(t.Context(), Request{Service: "next"})
			if err != nil {
				t.Fatal(err)
			}
			s.Release()
		})
	}
}

func TestGateDevices(t *testing.T) {
	src := newFakeSource(40*gib, 40*gib)
	src.setUsed(0, 36*gib) // 4 GiB free on GPU 0, 40 on GPU 1
	g, clk, _ := testGate(t, src, 0)

	s, err := g.Acquire(t.Context(), Request{Service: "any", NeedBytes: 16 * gib})
	if err != nil {
		t.Fatalf("any device with 40 GiB free: %v", err)
	}
	s.Release()
	s, err = g.Acquire(t.Context(), Request{Service: "by-uuid", NeedBytes: 16 * gib, Devices: []string{"GPU-b"}})
	if err != nil {
		t.Fatalf("GPU-b with 40 GiB free: %v", err)
	}
	s.Release()

	got := acquireAsync(t.Context(), g, Request{Service: "on-0", NeedBytes: 16 * gib, Devices: []string{"0"}})
	waitersReach(t, clk, 1)
	want := []string{"on-0: waiting for 16.0 GiB free VRAM on GPU 0 (4.0 GiB free)"}
	if r := reasons(g); !slices.Equal(r, want) {
		t.Fatalf("Waiting() = %q, want %q", r, want)
	}
	src.setUsed(0, 0)
	clk.Advance(time.Second)
	a := recv(t, got, "admission on GPU 0")
	if a.err != nil {
		t.Fatal(a.err)
	}
	a.slot.Release()

	src.setUsed(0, 39*gib)
	src.setUsed(1, 39*gib)
	got = acquireAsync(t.Context(), g, Request{Service: "any", NeedBytes: 4 * gib})
	waitersReach(t, clk, 1)
	want = []string{"any: waiting for 4.0 GiB free VRAM on any GPU (1.0 GiB free on GPU 0)"}
	if r := reasons(g); !slices.Equal(r, want) {
		t.Fatalf("Waiting() = %q, want %q", r, want)
	}
	src.setUsed(1, 30*gib)
	clk.Advance(time.Second)
	if a := recv(t, got, "admission on any"); a.err != nil {
		t.Fatal(a.err)
	} else {
		a.slot.Release()
	}
}

func TestGatePriorityOrderTiesFIFO(t *testing.T) {
	g, _, _ := testGate(t, newFakeSource(80*gib), 0)
	hold, err := g.Acquire(t.Context(), Request{Service: "first"})
	if err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 3)
	var wg sync.WaitGroup
	for i, r := range []Request{
		{Service: "ai-florence", Priority: 2},
		{Service: "ai-llm", Priority: 1},
		{Service: "ai-clip", Priority: 2},
	} {
		wg.Go(func() {
			s, err := g.Acquire(t.Context(), r)
			if err != nil {
				t.Error(err)
				return
			}
			order <- r.Service
			s.Release()
		})
		eventually(t, "queued", func() bool { return len(g.Waiting()) == i+1 })
	}
	want := []string{"ai-llm: waiting for first to settle", "ai-florence: waiting for first to settle", "ai-clip: waiting for first to settle"}
	if r := reasons(g); !slices.Equal(r, want) {
		t.Fatalf("Waiting() = %q, want %q", r, want)
	}
	hold.Release()
	wg.Wait()
	close(order)
	got := slices.Collect(func(yield func(string) bool) {
		for s := range order {
			yield(s)
		}
	})
	if wantOrder := []string{"ai-llm", "ai-florence", "ai-clip"}; !slices.Equal(got, wantOrder) {
		t.Fatalf("admission order %q, want %q", got, wantOrder)
	}
}

// A stop on the GPU waits for a start that is still settling (a neighbour
// freeing memory mid-start mis-sizes a model server), and needs no free VRAM.
func TestGateStopPassesThroughTheSameLane(t *testing.T) {
	src := newFakeSource(80 * gib)
	src.setUsed(0, 60*gib)
	g, clk, _ := testGate(t, src, 0)

	start, err := g.Acquire(t.Context(), Request{Service: "ai-llm", Op: OpStart})
	if err != nil {
		t.Fatal(err)
	}
	settled := make(chan SettleResult, 1)
	go func() { settled <- start.Settle(t.Context(), nil) }()
	waitersReach(t, clk, 2) // settle timeout + poll

	// A need on a stop is ignored: stopping frees memory.
	stop := acquireAsync(t.Context(), g, Request{Service: "ai-florence", Op: OpStop, Priority: -5, NeedBytes: 10 * gib})
	eventually(t, "stop queued", func() bool { return len(g.Waiting()) == 1 })
	if r := reasons(g); !slices.Equal(r, []string{"ai-florence: waiting for ai-llm to settle"}) {
		t.Fatalf("Waiting() = %q", r)
	}
	notYet(t, stop, "stop during a settle")

	for i := range 3 { // ai-llm grows for 3 s, then is flat for the 5 s window
		waitersReach(t, clk, 2)
		src.setUsed(0, 61*gib+uint64(i)*gib)
		clk.Advance(time.Second)
	}
	for range 5 {
		waitersReach(t, clk, 2)
		notYet(t, stop, "stop before the window passed")
		clk.Advance(time.Second)
	}
	if r := recv(t, settled, "settle"); r.Outcome != OutcomeSettled {
		t.Fatalf("settle outcome %v", r.Outcome)
	}
	notYet(t, stop, "stop before Release")
	src.setUsed(0, 80*gib) // full: a start with that need would wait, a stop must not
	start.Release()
	a := recv(t, stop, "stop admission")
	if a.err != nil {
		t.Fatal(a.err)
	}
	next := acquireAsync(t.Context(), g, Request{Service: "ai-clip"})
	eventually(t, "start queued", func() bool { return len(g.Waiting()) == 1 })
	if r := reasons(g); !slices.Equal(r, []string{"ai-clip: waiting for ai-florence to stop"}) {
		t.Fatalf("Waiting() = %q", r)
	}
	a.slot.Release()
	b := recv(t, next, "start after stop")
	if b.err != nil {
		t.Fatal(b.err)
	}
	b.slot.Release()
}

// A GPU OOM: several GPU services fail together and are
// restarted one at a time, most critical first, each after the previous
// one's memory has settled.
func TestGateOOMGroupRestartsOneAtATime(t *testing.T) {
	src := newFakeSource(48 * gib) // everything was freed by the crash
	g, clk, _ := testGate(t, src, gib)
	group := []Request{
		{Service: "ai-enrichment", Priority: 3, NeedBytes: 4 * gib, Op: OpRestart},
		{Service: "ai-llm", Priority: 1, NeedBytes: 15 * gib, Op: OpRestart},
		{Service: "ai-yolo26", Priority: 2, NeedBytes: 4 * gib, Op: OpRestart},
	}
	hold, err := g.Acquire(t.Context(), Request{Service: "supervisor-batch"})
	if err != nil {
		t.Fatal(err)
	}
	var (
		active, maxActive atomic.Int32
		mu                sync.Mutex
		events            []string
		wg                sync.WaitGroup
	)
	record := func(e string) { mu.Lock(); events = append(events, e); mu.Unlock() }
	for i, r := range group {
		wg.Go(func() {
			s, err := g.Acquire(t.Context(), r)
			if err != nil {
				t.Error(err)
				return
			}
			n := active.Add(1)
			for m := maxActive.Load(); n > m; m = maxActive.Load() {
				if maxActive.CompareAndSwap(m, n) {
					break
				}
			}
			record("admit " + r.Service)
			src.addUsed(0, int64(r.NeedBytes)) // the restarted container allocates
			res := s.Settle(t.Context(), nil)
			record("settled " + r.Service + " " + res.Outcome.String())
			active.Add(-1)
			s.Release()
		})
		eventually(t, "queued", func() bool { return len(g.Waiting()) == i+1 })
	}
	hold.Release()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for { // drive the fake clock until all three settled
		select {
		case <-done:
			goto finished
		default:
		}
		if clk.Waiters() > 0 {
			clk.Advance(time.Second)
		} else {
			time.Sleep(100 * time.Microsecond)
		}
	}
finished:
	want := []string{
		"admit ai-llm", "settled ai-llm settled",
		"admit ai-yolo26", "settled ai-yolo26 settled",
		"admit ai-enrichment", "settled ai-enrichment settled",
	}
	if !slices.Equal(events, want) {
		t.Fatalf("events %q, want %q", events, want)
	}
	if maxActive.Load() != 1 {
		t.Fatalf("%d restarts overlapped", maxActive.Load())
	}
	if u := src.used(0); u != 23*gib {
		t.Errorf("used after restarts = %s", formatBytes(u))
	}
}

func TestGateWithoutNVMLLetsEverythingThrough(t *testing.T) {
	src := &fakeSource{snap: Snapshot{Reason: "no NVML: ERROR_LIBRARY_NOT_FOUND"}}
	g, _, rec := testGate(t, src, 0)
	var slots []*Slot
	for _, svc := range []string{"ai-llm", "ai-yolo26", "ai-clip"} {
		// None released: without NVML nothing is serialised.
		s, err := g.Acquire(t.Context(), Request{Service: svc, NeedBytes: 100 * gib})
		if err != nil {
			t.Fatalf("%s: %v", svc, err)
		}
		if r := s.Settle(t.Context(), nil); r.Outcome != OutcomeUnmonitored {
			t.Errorf("%s: Settle = %v, want unmonitored", svc, r.Outcome)
		}
		slots = append(slots, s)
	}
	if n := rec.count("NVML unavailable"); n != 1 {
		t.Errorf("no-NVML logged %d times, want once", n)
	}
	if rec.count("ERROR_LIBRARY_NOT_FOUND") != 1 {
		t.Errorf("the log does not carry the reason")
	}
	for _, s := range slots {
		s.Release()
	}
}

func TestGateCancelRemovesWaiter(t *testing.T) {
	src := newFakeSource(16 * gib)
	src.setUsed(0, 12*gib)
	g, clk, _ := testGate(t, src, 0)

	// Head of the queue waits for memory; one more is queued behind it.
	ctx, cancel := context.WithCancel(t.Context())
	head := acquireAsync(ctx, g, Request{Service: "ai-llm", Priority: 1, NeedBytes: 8 * gib})
	waitersReach(t, clk, 1)
	behind := acquireAsync(t.Context(), g, Request{Service: "ai-clip", Priority: 2})
	eventually(t, "second queued", func() bool { return len(g.Waiting()) == 2 })
	if r := reasons(g); !slices.Equal(r, []string{"ai-llm: waiting for 8.0 GiB free VRAM (4.0 GiB free)", "ai-clip: queued behind ai-llm"}) {
		t.Fatalf("Waiting() = %q", r)
	}

	cancel()
	a := recv(t, head, "cancelled Acquire")
	if !errors.Is(a.err, context.Canceled) || a.slot != nil {
		t.Fatalf("cancelled Acquire = %v, %v", a.slot, a.err)
	}
	b := recv(t, behind, "the one behind")
	if b.err != nil {
		t.Fatal(b.err)
	}
	if len(g.Waiting()) != 0 {
		t.Errorf("Waiting() = %q", reasons(g))
	}
	if clk.Waiters() != 0 {
		t.Errorf("cancelled waiter left %d timers armed", clk.Waiters())
	}

	// A waiter cancelled while the lane is held leaves the queue too.
	ctx2, cancel2 := context.WithCancel(t.Context())
	queued := acquireAsync(ctx2, g, Request{Service: "ai-yolo26"})
	eventually(t, "queued", func() bool { return len(g.Waiting()) == 1 })
	cancel2()
	if a := recv(t, queued, "cancelled"); !errors.Is(a.err, context.Canceled) {
		t.Fatalf("err = %v", a.err)
	}
	if len(g.Waiting()) != 0 {
		t.Errorf("Waiting() = %q", reasons(g))
	}
	b.slot.Release()
	b.slot.Release() // twice is harmless
	if _, err := g.Acquire(ctx2, Request{Service: "late"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire on a done ctx = %v", err)
	}
}

func TestGateReserveOrderBeatsScheduling(t *testing.T) {
	src := newFakeSource(80 * gib)
	g, _, _ := testGate(t, src, 0)
	holder, err := g.Acquire(t.Context(), Request{Service: "first"})
	if err != nil {
		t.Fatal(err)
	}
	// Both reserve while the lane is held; the less critical one starts
	// waiting first, as a goroutine scheduled earlier would.
	low := g.Reserve(Request{Service: "low", Priority: 2})
	high := g.Reserve(Request{Service: "high", Priority: 1})
	lowGot := make(chan *Slot, 1)
	go func() {
		s, _ := low.Wait(t.Context())
		lowGot <- s
	}()
	highGot := make(chan *Slot, 1)
	go func() {
		s, _ := high.Wait(t.Context())
		highGot <- s
	}()
	holder.Release()
	s := recvSlot(t, highGot)
	select {
	case <-lowGot:
		t.Fatal("the less critical ticket got the lane while the more critical one held it")
	case <-time.After(20 * time.Millisecond):
	}
	s.Release()
	recvSlot(t, lowGot).Release()

	// A cancelled ticket leaves the queue.
	c := g.Reserve(Request{Service: "cancelled"})
	c.Cancel()
	if len(g.Waiting()) != 0 {
		t.Errorf("Waiting() after Cancel = %q", reasons(g))
	}
}

func recvSlot(t *testing.T, c <-chan *Slot) *Slot {
	t.Helper()
	select {
	case s := <-c:
		if s == nil {
			t.Fatal("Wait failed")
		}
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no slot within 5s")
	}
	return nil
}
