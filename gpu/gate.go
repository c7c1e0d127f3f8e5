package gpu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hostagent/hostagent/internal/clock"
)

// Op is what a request through the gate is about to do to its service.
type Op int

const (
	OpStart Op = iota
	OpStop
	OpRestart
)

func (o Op) String() string {
	switch o {
	case OpStart:
		return "start"
	case OpStop:
		return "stop"
	case OpRestart:
		return "restart"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// GateConfig tunes the gate. Zero durations take the defaults noted.
type GateConfig struct {
	// SettleWindow: a service whose VRAM use has not grown for this long
	// has settled (default 10s).
	SettleWindow time.Duration
	// SettleTimeout bounds one Settle (default 180s: time for a large
	// model to load before its VRAM use stops growing).
	SettleTimeout time.Duration
	// PollInterval is how often VRAM is re-read while settling or waiting
	// for free memory (default 1s).
	PollInterval time.Duration
	// MarginBytes is added to a start's need before comparing with free
	// VRAM; model servers that size themselves from free memory need slack.
	MarginBytes uint64
}

func (c GateConfig) withDefaults() GateConfig {
	if c.SettleWindow <= 0 {
		c.SettleWindow = 10 * time.Second
	}
	if c.SettleTimeout <= 0 {
		c.SettleTimeout = 180 * time.Second
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	return c
}

// Request asks the gate for the GPU lane.
type Request struct {
	Service string
	// Priority: lower goes first; equal priorities go in arrival order.
	Priority int
	// NeedBytes is the declared or learned VRAM need; 0 = unknown, which
	// skips the free-memory check (the request is still serialised).
	NeedBytes uint64
	Op        Op
	// Devices are the GPUs the service is assigned, by NVML index ("0") or
	// UUID ("GPU-..."). Their free memory is added up against the need.
	// Empty means any device: the need must fit on one device, the one
	// with the most free memory.
	Devices []string
}

// Wait is one queued request, for status.
type Wait struct {
	Service string
	Op      Op
	// Reason is e.g. "waiting for 16.0 GiB free VRAM (8.2 GiB free)" or
	// "waiting for ai-llm to settle".
	Reason string
	Since  time.Time
}

var (
	// ErrNeverFits: the need (plus margin) exceeds the total VRAM of the
	// devices the request may use, so waiting would never end.
	ErrNeverFits = errors.New("VRAM need exceeds the devices' total memory")
	// ErrUnknownDevice: the request names a device NVML does not list.
	ErrUnknownDevice = errors.New("no such GPU")
)

// Gate serialises GPU service starts, stops and restarts, one lane per GPU:
// a request holds the lanes of its devices (Request.Devices; none named
// means every GPU) from Acquire to Release, the queue is ordered by
// priority then arrival, and a start is admitted only when free VRAM
// covers its need. Requests whose devices do not overlap pass each other:
// services pinned to different GPUs cannot mis-size each other. On a lane,
// the first queued request blocks those behind it even when a smaller one
// would fit: the most critical service must not be starved by lesser ones.
type Gate struct {
	src SnapshotSource
	clk clock.Clock
	log *slog.Logger
	cfg GateConfig

	mu           sync.Mutex
	seq          uint64
	queue        []*waiter     // sorted by (priority, seq)
	holders      []*Slot       // on disjoint lanes
	changed      chan struct{} // closed and replaced on every queue change
	loggedNoNVML bool
}

type waiter struct {
	req    Request
	seq    uint64
	since  time.Time
	reason string // set by the head while it waits for memory
	// lanes are the devices the request holds, as canonical keys; nil is
	// every GPU, which is also what a request counts as until its first
	// NVML reading resolves its Devices.
	lanes []string
}

// NewGate returns a gate reading VRAM from src.
func NewGate(src SnapshotSource, clk clock.Clock, log *slog.Logger, cfg GateConfig) *Gate {
	return &Gate{src: src, clk: clk, log: log, cfg: cfg.withDefaults(), changed: make(chan struct{})}
}

// Acquire blocks until it is r's turn and, for a start or restart with a
// known need, free VRAM covers need + margin. The caller must Release the
// slot. Errors: ctx ended (r leaves the queue), ErrNeverFits,
// ErrUnknownDevice. Without NVML it returns at once with a slot that does
// not hold the lane.
func (g *Gate) Acquire(ctx context.Context, r Request) (*Slot, error) {
	return g.Reserve(r).Wait(ctx)
}

// Ticket is a place in the gate's queue, taken by Reserve before the
// caller waits: callers that reserve in order of criticality get the lane
// in that order however their goroutines are scheduled.
type Ticket struct {
	g *Gate
	w *waiter
}

// Reserve takes r's place in the queue now, without blocking; Wait then
// waits for the lane. A ticket that is never waited on must be Cancelled.
func (g *Gate) Reserve(r Request) *Ticket { return &Ticket{g: g, w: g.enqueue(r)} }

// Cancel gives up a ticket's place; harmless after Wait.
func (t *Ticket) Cancel() { t.g.dequeue(t.w) }

// Wait is Acquire for a reserved place.
func (t *Ticket) Wait(ctx context.Context) (*Slot, error) {
	g, w, r := t.g, t.w, t.w.req
	if err := ctx.Err(); err != nil {
		g.dequeue(w)
		return nil, fmt.Errorf("gpu gate: %s %s: %w", r.Op, r.Service, err)
	}
	snap := g.src.Snapshot(ctx)
	if !snap.Available {
		g.dequeue(w)
		g.logNoNVMLOnce(snap.Reason)
		return &Slot{gate: g, req: r, passthrough: true}, nil
	}
	g.setLanes(w, snap)
	fresh, loggedWait := true, false
	for {
		g.mu.Lock()
		turn := g.turnLocked(w)
		ch := g.changed
		g.mu.Unlock()
		if !turn {
			fresh = false
			if err := g.waitFor(ctx, w, ch, nil); err != nil {
				return nil, err
			}
			continue
		}
		if !fresh {
			snap = g.src.Snapshot(ctx)
		}
		fresh = false
		ok, reason, err := g.fit(snap, r)
		if err != nil {
			g.dequeue(w)
			return nil, err
		}
		if ok {
			if s := g.grant(w, snap, loggedWait); s != nil {
				return s, nil
			}
			continue // someone more critical arrived while we read NVML
		}
		g.mu.Lock()
		w.reason = reason
		g.mu.Unlock()
		if !loggedWait {
			loggedWait = true
			g.log.Info("gpu: waiting for free VRAM", "service", r.Service, "op", r.Op, "reason", reason)
		}
		poll := g.clk.NewTimer(g.cfg.PollInterval)
		err = g.waitFor(ctx, w, ch, poll.C())
		poll.Stop()
		if err != nil {
			return nil, err
		}
	}
}

// setLanes puts w on the lanes of the GPUs it asked for, now that NVML
// says which they are; without device ids it stays on every lane.
func (g *Gate) setLanes(w *waiter, snap Snapshot) {
	lanes := laneKeys(snap, w.req.Devices)
	if lanes == nil {
		return
	}
	g.mu.Lock()
	w.lanes = lanes
	g.broadcastLocked() // those behind w on other lanes may go now
	g.mu.Unlock()
}

// waitFor blocks until the queue changes, poll fires, or ctx ends; on the
// last it takes w out of the queue.
func (g *Gate) waitFor(ctx context.Context, w *waiter, changed <-chan struct{}, poll <-chan time.Time) error {
	select {
	case <-changed:
		return nil
	case <-poll:
		return nil
	case <-ctx.Done():
		g.dequeue(w)
		return fmt.Errorf("gpu gate: %s %s: %w", w.req.Op, w.req.Service, ctx.Err())
	}
}

func (g *Gate) enqueue(r Request) *waiter {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seq++
	w := &waiter{req: r, seq: g.seq, since: g.clk.Now()}
	i, _ := slices.BinarySearchFunc(g.queue, w, func(a, b *waiter) int {
		if a.req.Priority != b.req.Priority {
			return a.req.Priority - b.req.Priority
		}
		return int(a.seq) - int(b.seq)
	})
	g.queue = slices.Insert(g.queue, i, w)
	g.broadcastLocked()
	return w
}

func (g *Gate) dequeue(w *waiter) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if i := slices.Index(g.queue, w); i >= 0 {
		g.queue = slices.Delete(g.queue, i, i+1)
		g.broadcastLocked()
	}
}

// turnLocked: no holder and no request queued ahead of w shares a lane
// with it.
func (g *Gate) turnLocked(w *waiter) bool {
	return g.holderOnLocked(w) == nil && g.aheadOnLocked(w) == nil
}

func (g *Gate) holderOnLocked(w *waiter) *Slot {
	for _, h := range g.holders {
		if overlap(h.lanes, w.lanes) {
			return h
		}
	}
	return nil
}

func (g *Gate) aheadOnLocked(w *waiter) *waiter {
	for _, o := range g.queue {
		if o == w {
			return nil
		}
		if overlap(o.lanes, w.lanes) {
			return o
		}
	}
	return nil
}

// overlap reports whether two lane sets share a GPU; nil is every GPU.
func overlap(a, b []string) bool {
	if a == nil || b == nil {
		return true
	}
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// laneKeys names the devices refs (index or UUID) resolve to, one key per
// GPU whichever way it was named; nil (every GPU) for no refs. A ref NVML
// does not list keeps its own name (fit reports it).
func laneKeys(snap Snapshot, refs []string) []string {
	if len(refs) == 0 {
		return nil
	}
	out := make([]string, 0, len(refs))
	for _, ref := range refs {
		key := "ref:" + ref
		if d, ok := snap.device(ref); ok {
			key = fmt.Sprint(d.Index)
		}
		if !slices.Contains(out, key) {
			out = append(out, key)
		}
	}
	return out
}

// Overlap reports whether two services' GPUs (Request.Devices, by index or
// UUID; none is every GPU) may share a lane. Without NVML a UUID and an
// index cannot be matched, so they count as overlapping.
func Overlap(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, x := range a {
		for _, y := range b {
			if x == y || strings.HasPrefix(x, "GPU-") != strings.HasPrefix(y, "GPU-") {
				return true
			}
		}
	}
	return false
}

// grant hands w its lanes if it is still its turn; nil means it is not.
func (g *Gate) grant(w *waiter, snap Snapshot, waited bool) *Slot {
	g.mu.Lock()
	defer g.mu.Unlock()
	i := slices.Index(g.queue, w)
	if i < 0 || !g.turnLocked(w) {
		return nil
	}
	g.queue = slices.Delete(g.queue, i, i+1)
	s := &Slot{gate: g, req: w.req, lanes: w.lanes, grantedAt: g.clk.Now(), baseline: usedOn(snap, w.req.Devices)}
	g.holders = append(g.holders, s)
	g.broadcastLocked()
	if waited {
		g.log.Info("gpu: admitted", "service", w.req.Service, "op", w.req.Op, "waited", g.clk.Since(w.since))
	}
	return s
}

func (g *Gate) release(s *Slot) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if i := slices.Index(g.holders, s); i >= 0 {
		g.holders = slices.Delete(g.holders, i, i+1)
		g.broadcastLocked()
	}
}

func (g *Gate) broadcastLocked() {
	close(g.changed)
	g.changed = make(chan struct{})
}

func (g *Gate) logNoNVMLOnce(reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.loggedNoNVML {
		return
	}
	g.loggedNoNVML = true
	g.log.Warn("gpu: NVML unavailable, the GPU gate lets every request through", "reason", reason)
}

// Waiting lists the queued requests in the order they will be admitted.
func (g *Gate) Waiting() []Wait {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Wait, 0, len(g.queue))
	for _, w := range g.queue {
		var reason string
		h, ahead := g.holderOnLocked(w), g.aheadOnLocked(w)
		switch {
		case h != nil && h.req.Op == OpStop:
			reason = fmt.Sprintf("waiting for %s to stop", h.req.Service)
		case h != nil:
			reason = fmt.Sprintf("waiting for %s to settle", h.req.Service)
		case ahead != nil:
			reason = fmt.Sprintf("queued behind %s", ahead.req.Service)
		case w.reason != "":
			reason = w.reason
		default:
			reason = "checking free VRAM"
		}
		out = append(out, Wait{Service: w.req.Service, Op: w.req.Op, Reason: reason, Since: w.since})
	}
	return out
}

// fit decides whether r may take the lane on snap: ok, or the reason to
// wait, or an error when waiting cannot help.
func (g *Gate) fit(snap Snapshot, r Request) (ok bool, reason string, err error) {
	if r.Op == OpStop || r.NeedBytes == 0 || !snap.Available || len(snap.Devices) == 0 {
		return true, "", nil
	}
	need := r.NeedBytes + g.cfg.MarginBytes
	if need < r.NeedBytes { // saturate: an absurd need must not wrap to a small one
		need = math.MaxUint64
	}
	needText := formatBytes(r.NeedBytes)
	if g.cfg.MarginBytes > 0 {
		needText += " + " + formatBytes(g.cfg.MarginBytes) + " margin"
	}
	if len(r.Devices) == 0 {
		best, maxTotal := snap.Devices[0], uint64(0)
		for _, d := range snap.Devices {
			maxTotal = max(maxTotal, d.TotalBytes)
			if d.FreeBytes > best.FreeBytes {
				best = d
			}
		}
		if need > maxTotal {
			return false, "", fmt.Errorf("gpu gate: %s needs %s VRAM but the largest GPU has %s: %w",
				r.Service, needText, formatBytes(maxTotal), ErrNeverFits)
		}
		if best.FreeBytes >= need {
			return true, "", nil
		}
		if len(snap.Devices) == 1 {
			return false, fmt.Sprintf("waiting for %s free VRAM (%s free)", formatBytes(need), formatBytes(best.FreeBytes)), nil
		}
		return false, fmt.Sprintf("waiting for %s free VRAM on any GPU (%s free on GPU %d)",
			formatBytes(need), formatBytes(best.FreeBytes), best.Index), nil
	}
	devs, err := resolve(snap, r)
	if err != nil {
		return false, "", err
	}
	var total, free uint64
	for _, d := range devs {
		total += d.TotalBytes
		free += d.FreeBytes
	}
	if need > total {
		return false, "", fmt.Errorf("gpu gate: %s needs %s VRAM but GPU %s has %s in total: %w",
			r.Service, needText, joinDevices(devs), formatBytes(total), ErrNeverFits)
	}
	if free >= need {
		return true, "", nil
	}
	if len(snap.Devices) == 1 {
		return false, fmt.Sprintf("waiting for %s free VRAM (%s free)", formatBytes(need), formatBytes(free)), nil
	}
	return false, fmt.Sprintf("waiting for %s free VRAM on GPU %s (%s free)",
		formatBytes(need), joinDevices(devs), formatBytes(free)), nil
}

func resolve(snap Snapshot, r Request) ([]Device, error) {
	devs := make([]Device, 0, len(r.Devices))
	for _, ref := range r.Devices {
		d, ok := snap.device(ref)
		if !ok {
			return nil, fmt.Errorf("gpu gate: %s is assigned GPU %q: %w", r.Service, ref, ErrUnknownDevice)
		}
		devs = append(devs, d)
	}
	return devs, nil
}

// usedOn sums device used memory over refs (every device when empty);
// unknown refs count nothing.
func usedOn(snap Snapshot, refs []string) uint64 {
	var used uint64
	if len(refs) == 0 {
		for _, d := range snap.Devices {
			used += d.UsedBytes
		}
		return used
	}
	for _, ref := range refs {
		if d, ok := snap.device(ref); ok {
			used += d.UsedBytes
		}
	}
	return used
}
