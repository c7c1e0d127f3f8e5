package supervisor

import (
	"context"
	"fmt"
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

// With two slots, waiters are granted one per freed slot, highest
// priority first.
func TestStartQueueTwoSlotsGrantInPriorityOrder(t *testing.T) {
	q := newStartQueue(2)
	relX, err := q.acquire(t.Context(), "x", 100)
	if err != nil {
		t.Fatal(err)
	}
	relY, err := q.acquire(t.Context(), "y", 100)
	if err != nil {
		t.Fatal(err)
	}
	granted := make(chan string)
	done := map[string]chan struct{}{}
	for i, name := range []string{"p1", "p3", "p4", "p2"} {
		done[name] = make(chan struct{})
		prio := map[string]int64{"p1": 1, "p2": 2, "p3": 3, "p4": 4}[name]
		go func() {
			release, err := q.acquire(t.Context(), name, prio)
			if err != nil {
				t.Error(err)
				return
			}
			granted <- name
			<-done[name]
			release()
		}()
		for waiting(q) < i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	next := func() string {
		select {
		case n := <-granted:
			return n
		case <-time.After(5 * time.Second):
			t.Fatal("no grant after a slot was freed")
			return ""
		}
	}
	var order []string
	relX()
	order = append(order, next())
	relY()
	order = append(order, next())
	for _, n := range order[:2] {
		close(done[n])
		order = append(order, next())
	}
	if want := []string{"p4", "p3", "p2", "p1"}; fmt.Sprint(order) != fmt.Sprint(want) {
		t.Errorf("grant order %v, want %v", order, want)
	}
	close(done[order[2]])
	close(done[order[3]])
}

func waiting(q *startQueue) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiters)
}
