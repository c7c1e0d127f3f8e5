package supervisor

import (
	"container/heap"
	"context"
	"sync"
)

// startQueue hands out start slots, highest priority first. Podman starts
// containers one at a time, so the order in which ready services ask for a
// start matters: the one with the longest remaining path goes first.
type startQueue struct {
	mu      sync.Mutex
	free    int
	waiters waitHeap
	seq     int
}

func newStartQueue(slots int) *startQueue { return &startQueue{free: max(slots, 1)} }

type startWaiter struct {
	priority int64 // higher goes first
	seq      int
	ready    chan struct{}
	index    int
}

// acquire blocks until a slot is free and no waiter of higher priority is
// ahead; the returned func gives the slot back.
func (q *startQueue) acquire(ctx context.Context, priority int64) (func(), error) {
	q.mu.Lock()
	if q.free > 0 && len(q.waiters) == 0 {
		q.free--
		q.mu.Unlock()
		return q.release, nil
	}
	q.seq++
	w := &startWaiter{priority: priority, seq: q.seq, ready: make(chan struct{})}
	heap.Push(&q.waiters, w)
	q.mu.Unlock()
	select {
	case <-w.ready:
		return q.release, nil
	case <-ctx.Done():
		q.mu.Lock()
		defer q.mu.Unlock()
		select {
		case <-w.ready:
			// Granted while cancelling: pass the slot on.
			q.releaseLocked()
		default:
			heap.Remove(&q.waiters, w.index)
		}
		return nil, ctx.Err()
	}
}

func (q *startQueue) release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.releaseLocked()
}

func (q *startQueue) releaseLocked() {
	if len(q.waiters) > 0 {
		w := heap.Pop(&q.waiters).(*startWaiter)
		close(w.ready)
		return
	}
	q.free++
}

type waitHeap []*startWaiter

func (h waitHeap) Len() int { return len(h) }
func (h waitHeap) Less(i, j int) bool {
	if h[i].priority != h[j].priority {
		return h[i].priority > h[j].priority
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
