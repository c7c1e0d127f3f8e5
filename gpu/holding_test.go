package gpu

import (
	"testing"
	"time"
)

func TestHoldingListsGrantedUntilRelease(t *testing.T) {
	src := newFakeSource(24 * gib)
	g, clk, _ := testGate(t, src, 0)
	if h := g.Holding(); len(h) != 0 {
		t.Fatalf("Holding() of an idle gate = %+v", h)
	}
	clk.Advance(time.Minute)
	a := recv(t, acquireAsync(t.Context(), g, Request{Service: "ai-llm", Op: OpStart}), "admission")
	if a.err != nil {
		t.Fatal(a.err)
	}
	h := g.Holding()
	if len(h) != 1 || h[0].Service != "ai-llm" || h[0].Op != OpStart || !h[0].Since.Equal(epoch.Add(time.Minute)) {
		t.Errorf("Holding() = %+v, want ai-llm's start since %v", h, epoch.Add(time.Minute))
	}
	a.slot.Release()
	if h := g.Holding(); len(h) != 0 {
		t.Errorf("Holding() after the release = %+v", h)
	}
}
