package gpu

import (
	"slices"
	"testing"
	"time"
)

// Services pinned to different GPUs do not wait for each other; a service
// on a busy GPU, or on every GPU, does.
func TestGateOneLanePerDevice(t *testing.T) {
	src := newFakeSource(24*gib, 24*gib)
	g, _, _ := testGate(t, src, 0)

	on0, err := g.Acquire(t.Context(), Request{Service: "ai-llm", Devices: []string{"0"}})
	if err != nil {
		t.Fatal(err)
	}
	// GPU 1 is free while ai-llm settles on GPU 0.
	on1 := acquireAsync(t.Context(), g, Request{Service: "ai-florence", Devices: []string{"1"}})
	a1 := recv(t, on1, "admission on GPU 1 while GPU 0 is held")
	if a1.err != nil {
		t.Fatal(a1.err)
	}

	// GPU 0 again (named by UUID): waits for ai-llm. Every GPU: waits too.
	again := acquireAsync(t.Context(), g, Request{Service: "ai-clip", Devices: []string{"GPU-a"}})
	eventually(t, "ai-clip queued", func() bool { return len(g.Waiting()) == 1 })
	all := acquireAsync(t.Context(), g, Request{Service: "ai-all", Priority: 5})
	eventually(t, "ai-all queued", func() bool { return len(g.Waiting()) == 2 })
	want := []string{"ai-clip: waiting for ai-llm to settle", "ai-all: waiting for ai-llm to settle"}
	if r := reasons(g); !slices.Equal(r, want) {
		t.Fatalf("Waiting() = %q, want %q", r, want)
	}
	notYet(t, again, "GPU 0 (by UUID) while ai-llm holds it")

	on0.Release()
	b := recv(t, again, "ai-clip after ai-llm")
	if b.err != nil {
		t.Fatal(b.err)
	}
	// ai-all still waits: both lanes are held now.
	notYet(t, all, "every-GPU request while GPUs 0 and 1 are held")
	if r := reasons(g); len(r) != 1 || r[0] != "ai-all: waiting for ai-florence to settle" && r[0] != "ai-all: waiting for ai-clip to settle" {
		t.Fatalf("Waiting() = %q", r)
	}
	a1.slot.Release()
	notYet(t, all, "every-GPU request while GPU 0 is held")
	b.slot.Release()
	c := recv(t, all, "every-GPU request once both are free")
	if c.err != nil {
		t.Fatal(c.err)
	}
	// And it holds both lanes.
	blocked := acquireAsync(t.Context(), g, Request{Service: "late", Devices: []string{"1"}})
	notYet(t, blocked, "GPU 1 while an every-GPU request holds it")
	c.slot.Release()
	if d := recv(t, blocked, "late"); d.err != nil {
		t.Fatal(d.err)
	} else {
		d.slot.Release()
	}
}

// A more critical request waiting for memory on GPU 0 blocks lesser ones
// on GPU 0 only.
func TestGateHeadOfLineIsPerLane(t *testing.T) {
	src := newFakeSource(24*gib, 24*gib)
	src.setUsed(0, 20*gib) // 4 GiB free on GPU 0
	g, clk, _ := testGate(t, src, 0)

	big := acquireAsync(t.Context(), g, Request{Service: "ai-llm", Priority: 1, NeedBytes: 16 * gib, Devices: []string{"0"}})
	waitersReach(t, clk, 1) // parked on the poll timer
	small0 := acquireAsync(t.Context(), g, Request{Service: "ai-clip", Priority: 2, NeedBytes: gib, Devices: []string{"0"}})
	eventually(t, "ai-clip queued", func() bool { return len(g.Waiting()) == 2 })
	small1 := acquireAsync(t.Context(), g, Request{Service: "ai-florence", Priority: 2, NeedBytes: gib, Devices: []string{"1"}})
	a := recv(t, small1, "GPU 1 request past a GPU 0 wait")
	if a.err != nil {
		t.Fatal(a.err)
	}
	a.slot.Release()
	want := []string{"ai-llm: waiting for 16.0 GiB free VRAM on GPU 0 (4.0 GiB free)", "ai-clip: queued behind ai-llm"}
	if r := reasons(g); !slices.Equal(r, want) {
		t.Fatalf("Waiting() = %q, want %q", r, want)
	}
	notYet(t, small0, "a lesser GPU 0 request ahead of the more critical one")

	src.setUsed(0, 0)
	clk.Advance(time.Second)
	b := recv(t, big, "ai-llm once GPU 0 has room")
	if b.err != nil {
		t.Fatal(b.err)
	}
	notYet(t, small0, "ai-clip while ai-llm holds GPU 0")
	b.slot.Release()
	if c := recv(t, small0, "ai-clip"); c.err != nil {
		t.Fatal(c.err)
	} else {
		c.slot.Release()
	}
}

func TestOverlap(t *testing.T) {
	cases := []struct {
		a, b []string
		want bool
	}{
		{[]string{"0"}, []string{"1"}, false},
		{[]string{"0"}, []string{"0"}, true},
		{[]string{"0", "1"}, []string{"1"}, true},
		{nil, []string{"1"}, true},
		{[]string{"GPU-a"}, []string{"GPU-b"}, false},
		// Without NVML an index and a UUID may be the same GPU.
		{[]string{"GPU-a"}, []string{"1"}, true},
	}
	for _, tc := range cases {
		if got := Overlap(tc.a, tc.b); got != tc.want {
			t.Errorf("Overlap(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
