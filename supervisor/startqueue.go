package supervisor

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/internal/clock"
)

// startSlots is how many starts the agent has in flight. Podman 4.3 runs
// much of a start under shared locks, yet two in flight overlap enough to
// take about a quarter off a long bring-up (50 starts: 5.7-6.3 s one
// after another, 4.3-4.6 s two at a time; 100 services came up in 0.81 to
// 0.91 × the one-after-another floor), while a third adds little on two
// cores. GPU services are paced by the GPU gate besides.
const startSlots = 2

// startQueue hands out start slots, highest priority first (the longest
// remaining path, then the name). Starts are few at a time (startSlots),
// so the order is most of the bring-up's makespan, and it must not depend
// on which runner goroutine happened to wake first: when services become
// startable at the same instant (bring-up, or a dependency turning
// healthy), a free slot is held for a more critical service that is about
// to ask (see Supervisor.startAhead) rather than given to whoever asked
// first. A hold is re-examined whenever a service's state changes, and
// ends after maxHold in any case, so a wrong guess costs order, never
// progress.
type startQueue struct {
	mu      sync.Mutex
	free    int
	waiters waitHeap
	seq     int
	// granted: services given a slot at least once; they are no longer
	// about to ask.
	granted map[string]bool
	// ahead names a service that outranks (name, priority) and is about to
	// ask for a slot; nil: no holds.
	ahead   func(name string, priority int64, granted map[string]bool) string
	clock   clock.Clock
	maxHold time.Duration
}

func newStartQueue(slots int) *startQueue {
	return &startQueue{free: max(slots, 1), granted: map[string]bool{}, clock: clock.New(), maxHold: askWindow}
}

type startWaiter struct {
	name     string
	priority int64 // higher goes first
	seq      int
	since    time.Time
	ready    chan struct{}
	index    int
}

// acquire blocks until a slot is free and no service of higher priority is
// waiting or about to ask; the returned func gives the slot back.
func (q *startQueue) acquire(ctx context.Context, name string, priority int64) (func(), error) {
	q.mu.Lock()
	q.seq++
	w := &startWaiter{name: name, priority: priority, seq: q.seq, since: q.clock.Now(), ready: make(chan struct{})}
	heap.Push(&q.waiters, w)
	q.dispatchLocked(false)
	q.mu.Unlock()
	select {
	case <-w.ready:
		return q.release, nil
	default:
	}
	hold := q.clock.NewTimer(q.maxHold)
	defer hold.Stop()
	for {
		select {
		case <-w.ready:
			return q.release, nil
		case <-hold.C():
			// The safety valve: a hold that outlived maxHold ends.
			q.mu.Lock()
			q.dispatchLocked(true)
			q.mu.Unlock()
			hold.Reset(q.maxHold)
		case <-ctx.Done():
			q.mu.Lock()
			defer q.mu.Unlock()
			select {
			case <-w.ready:
				// Granted while cancelling: pass the slot on.
				q.free++
				q.dispatchLocked(false)
			default:
				heap.Remove(&q.waiters, w.index)
				// It may have been the one a hold was for.
				q.dispatchLocked(false)
			}
			return nil, ctx.Err()
		}
	}
}

func (q *startQueue) release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.free++
	q.dispatchLocked(false)
}

// reconsider re-examines a hold after a service's state changed (it began,
// deferred its start, was disabled ...).
func (q *startQueue) reconsider() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dispatchLocked(false)
}

// dispatchLocked grants free slots to the head waiters, unless a more
// critical service is about to ask; force ends holds older than maxHold.
func (q *startQueue) dispatchLocked(force bool) {
	for q.free > 0 && len(q.waiters) > 0 {
		w := q.waiters[0]
		expired := force && q.clock.Since(w.since) >= q.maxHold
		if q.ahead != nil && !expired && q.ahead(w.name, w.priority, q.granted) != "" {
			return
		}
		heap.Pop(&q.waiters)
		q.free--
		q.granted[w.name] = true
		close(w.ready)
	}
}

type waitHeap []*startWaiter

func (h waitHeap) Len() int { return len(h) }
func (h waitHeap) Less(i, j int) bool {
	if h[i].priority != h[j].priority {
		return h[i].priority > h[j].priority
	}
	if h[i].name != h[j].name {
		return h[i].name < h[j].name
	}
	return h[i].seq < h[j].seq
}
func (h waitHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *waitHeap) Push(x any) {
	w := x.(*startWaiter)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *waitHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	*h = old[:len(old)-1]
	return w
}

// startPriority ranks a service in the start queue: its longest remaining
// path (the plan's estimate), in milliseconds.
func startPriority(svc *compose.PlannedService) int64 {
	return int64(svc.RemainingPath / time.Millisecond)
}

// askWindow is how long a service whose start has begun counts as about
// to ask for a slot: its action asks right away unless it first pulls or
// builds an image, which may take minutes; meanwhile others go. It is
// also the longest any hold lasts.
const askWindow = 250 * time.Millisecond

// startAhead names a service that outranks (name, priority) in the start
// queue and is about to ask for a slot: its first start, everything it
// waits for satisfied, enabled, not deferred by a backoff, not yet given a
// slot, and not begun more than askWindow ago. GPU services behind a gate
// are left out: they ask only once the GPU lane lets them, which may take
// minutes.
func (s *Supervisor) startAhead(name string, priority int64, granted map[string]bool) string {
	_, plan := s.current()
	for i := range plan.Services {
		o := &plan.Services[i]
		p := startPriority(o)
		if o.Name == name || granted[o.Name] || p < priority || (p == priority && o.Name > name) {
			continue
		}
		if o.GPU.Required && s.gate != nil {
			continue
		}
		s.mu.Lock()
		v, ok := s.board.view(o.Name)
		_, live := s.runners[o.Name]
		s.mu.Unlock()
		if !ok || !live || v.launched || v.held || !v.enabled {
			continue
		}
		if !v.acting.IsZero() && s.clock.Since(v.acting) >= askWindow {
			continue
		}
		if met, _ := s.board.dependenciesMet(o); met {
			return o.Name
		}
	}
	return ""
}
