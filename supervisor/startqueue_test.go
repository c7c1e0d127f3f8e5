package supervisor

import (
	"context"
	"testing"
	"time"

	"github.com/hostagent/hostagent/internal/clock"
)

// A hold for a service that never asks ends after maxHold: a wrong guess
// costs order, never progress.
func TestStartQueueHoldEndsAfterMaxHold(t *testing.T) {
	fc := clock.NewFake(time.Unix(0, 0))
	q := newStartQueue(1)
	q.clock = fc
	q.ahead = func(name string, _ int64, granted map[string]bool) string {
		if name == "low" {
			return "never-asks"
		}
		return ""
	}
	got := make(chan error, 1)
	go func() {
		release, err := q.acquire(context.Background(), "low", 1)
		if err == nil {
			release()
		}
		got <- err
	}()
	fc.BlockUntil(1)
	fc.Advance(q.maxHold - time.Millisecond)
	select {
	case err := <-got:
		t.Fatalf("granted (err %v) before maxHold while a more critical service was expected", err)
	case <-time.After(20 * time.Millisecond):
	}
	fc.Advance(time.Millisecond)
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("hold did not end after maxHold")
	}
}

// The expected service arriving takes the held slot; the one that waited
// goes next.
func TestStartQueueHeldSlotGoesToTheExpectedService(t *testing.T) {
	q := newStartQueue(1)
	q.ahead = func(name string, _ int64, granted map[string]bool) string {
		if name == "low" && !granted["high"] {
			return "high"
		}
		return ""
	}
	order := make(chan string, 2)
	lowDone := make(chan struct{})
	go func() {
		defer close(lowDone)
		release, err := q.acquire(context.Background(), "low", 1)
		if err != nil {
			t.Error(err)
			return
		}
		order <- "low"
		release()
	}()
	time.Sleep(10 * time.Millisecond)
	release, err := q.acquire(context.Background(), "high", 9)
	if err != nil {
		t.Fatal(err)
	}
	order <- "high"
	release()
	<-lowDone
	if a, b := <-order, <-order; a != "high" || b != "low" {
		t.Errorf("order %s, %s; want high, low", a, b)
	}
}
