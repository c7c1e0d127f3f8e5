package main

import (
	"os"
	"testing"
	"time"
)

func TestResetAt(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	seenRunning := t0.Add(4 * time.Second)
	tests := []struct {
		name     string
		failures int
		needHigh bool
		at       time.Time
		want     resetState
	}{
		{"no failures", 0, false, t0.Add(time.Hour), notReset},
		{"inside the window", 2, false, t0.Add(stableWindow - time.Second), notReset},
		{"window passed since the fault, not since seen running", 2, false, t0.Add(stableWindow + time.Second), maybeReset},
		{"never seen running again", 2, true, t0.Add(time.Hour), maybeReset},
		{"window and margin passed", 2, false, seenRunning.Add(stableWindow + resetMargin), wasReset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &expect{failures: tt.failures, hLow: t0, hHigh: seenRunning, needHigh: tt.needHigh}
			if got := e.resetAt(tt.at); got != tt.want {
				t.Fatalf("resetAt = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestSeenAndObserve(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := &expect{}
	e.seen(t0)
	e.observe(service{Status: "running", RestartCount: 0}, t0.Add(time.Second))
	if !e.needHigh {
		t.Fatal("running with the old restart count fixed hHigh: the agent had not restarted it yet")
	}
	e.observe(service{Status: "running", RestartCount: 1}, t0.Add(2*time.Second))
	if e.needHigh || !e.hHigh.Equal(t0.Add(2*time.Second)) || e.restarts != 1 || e.failures != 1 {
		t.Fatalf("after the restart: %+v", e)
	}
	if !e.settle(e.hHigh.Add(stableWindow+resetMargin)) || e.failures != 0 {
		t.Fatalf("stable window passed: failures %d, want 0", e.failures)
	}
	if e.restarts != 1 {
		t.Fatalf("the stable window reset restarts too: %d", e.restarts)
	}
}

func TestScheduleIsAFunctionOfTheSeed(t *testing.T) {
	a, _ := newChaosForTest(t, 42)
	b, _ := newChaosForTest(t, 42)
	for i := range 50 {
		if da, db := a.nextDraw(), b.nextDraw(); da != db {
			t.Fatalf("draw %d differs: %+v vs %+v", i, da, db)
		}
	}
}

func TestPickKindOnlyEnabled(t *testing.T) {
	c, _ := newChaosForTest(t, 1)
	c.kinds = map[faultKind]bool{faultRedis: true, faultAgent: true}
	seen := map[faultKind]bool{}
	for roll := range 100 {
		seen[c.pickKind(roll)] = true
	}
	if len(seen) != 2 || !seen[faultRedis] || !seen[faultAgent] {
		t.Fatalf("kinds drawn: %v", seen)
	}
}

func newChaosForTest(t *testing.T, seed uint64) (*chaos, error) {
	t.Helper()
	bin := t.TempDir() + "/hostagent"
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := newChaos(bin, t.TempDir(), time.Minute, "", "")
	if err != nil {
		t.Fatal(err)
	}
	c.seed = seed
	c.rng = newRNG(seed)
	return c, nil
}

// An engine outage over the span a stable-window reset was due in may
// hold back the healthy check that makes it: ambiguous until a margin
// after the outage, and for as long as it lasts.
func TestResetHeldBackByAnEngineOutage(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	seenRunning := t0.Add(4 * time.Second)
	due := seenRunning.Add(stableWindow + resetMargin)
	out := &[]outage{{start: due.Add(-20 * time.Second)}}
	e := &expect{failures: 2, hLow: t0, hHigh: seenRunning, blind: out}
	if got := e.resetAt(due.Add(time.Minute)); got != maybeReset {
		t.Fatalf("during the outage: resetAt = %d, want maybeReset", got)
	}
	(*out)[0].end = due.Add(30 * time.Second)
	if got := e.resetAt(due.Add(30*time.Second + resetMargin - time.Second)); got != maybeReset {
		t.Fatalf("just after the outage: resetAt = %d, want maybeReset", got)
	}
	if got := e.resetAt(due.Add(30*time.Second + resetMargin)); got != wasReset {
		t.Fatalf("a margin after the outage: resetAt = %d, want wasReset", got)
	}
	// An outage over before the window could end changes nothing.
	*out = []outage{{start: t0.Add(time.Minute), end: t0.Add(2 * time.Minute)}}
	if got := e.resetAt(due); got != wasReset {
		t.Fatalf("outage long before the reset: resetAt = %d, want wasReset", got)
	}
}

func TestLoggedAt(t *testing.T) {
	want := time.Date(2026, 12, 7, 1, 50, 55, 322_000_000, time.UTC)
	if got := loggedAt(`time=2026-12-07T01:50:55.322Z level=INFO msg="Event stream resumed"`); !got.Equal(want) {
		t.Errorf("loggedAt = %v, want %v", got, want)
	}
	if got := loggedAt("panic: x"); time.Since(got) > time.Minute {
		t.Errorf("a line without time= gave %v, want now", got)
	}
}
