package gpu

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// settleNoiseBytes: changes this small are not growth. Device used memory
// moves by a few MiB without anyone allocating (driver bookkeeping).
const settleNoiseBytes = 4 << 20

// Outcome is how a Settle ended.
type Outcome int

const (
	// OutcomeSettled: no growth (for a stop: no more freeing) over the
	// settle window.
	OutcomeSettled Outcome = iota
	// OutcomeHealthy: the healthy channel closed first.
	OutcomeHealthy
	// OutcomeTimedOut: SettleTimeout passed while VRAM use still moved
	// (or, for a start, never started to grow).
	OutcomeTimedOut
	// OutcomeCancelled: ctx ended.
	OutcomeCancelled
	// OutcomeUnmonitored: no NVML, Settle returned at once.
	OutcomeUnmonitored
)

func (o Outcome) String() string {
	switch o {
	case OutcomeSettled:
		return "settled"
	case OutcomeHealthy:
		return "healthy"
	case OutcomeTimedOut:
		return "timed out"
	case OutcomeCancelled:
		return "cancelled"
	case OutcomeUnmonitored:
		return "unmonitored"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// SettleResult is what one Settle observed.
type SettleResult struct {
	Outcome Outcome
	Elapsed time.Duration
	// PeakBytes is the highest combined use of the tracked containers'
	// processes; PeakKnown says NVML attributed any memory to them.
	PeakBytes uint64
	PeakKnown bool
	// DeviceDeltaBytes is device used memory at the end minus at admission,
	// over the request's devices (all devices when it named none).
	DeviceDeltaBytes int64
}

// Learned is the VRAM need to remember for the service: the tracked peak
// when NVML attributed memory to its containers, else the growth of device
// use since admission (which includes anything a neighbour allocated
// meanwhile); false when neither says anything.
func (r SettleResult) Learned() (uint64, bool) {
	if r.PeakKnown {
		return r.PeakBytes, true
	}
	if r.DeviceDeltaBytes > settleNoiseBytes {
		return uint64(r.DeviceDeltaBytes), true
	}
	return 0, false
}

// Slot is the GPU lane held by one request, from Acquire to Release.
type Slot struct {
	gate        *Gate
	req         Request
	passthrough bool     // no NVML: holds nothing, Settle returns at once
	lanes       []string // the GPUs held (nil: every GPU)
	grantedAt   time.Time
	baseline    uint64 // device used at admission, over req.Devices

	mu       sync.Mutex
	tracked  []string
	released bool
}

// Track names the container(s) of the slot's service, by full ID or a
// prefix of at least 12 hex digits, so that Settle can attribute
// per-process VRAM to the service.
func (s *Slot) Track(containerIDs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range containerIDs {
		if len(id) >= 12 {
			s.tracked = append(s.tracked, strings.ToLower(id))
		}
	}
}

// Release gives the lane to the next request. It may be called more than
// once; only the first counts.
func (s *Slot) Release() {
	s.mu.Lock()
	done := s.released
	s.released = true
	s.mu.Unlock()
	if done || s.passthrough {
		return
	}
	s.gate.release(s)
}

// Settle waits, re-reading VRAM every PollInterval, until the service's VRAM
// use has settled, healthy is closed (nil: never), ctx ends, or
// SettleTimeout passes, whichever comes first.
//
// For a start or restart "settled" means: use has grown since admission,
// then not grown for SettleWindow. Growth is a new high of device used
// memory or of the tracked containers' use. A start that never grows waits
// for health or the timeout: model servers spend their first seconds
// loading weights into host memory, and a window that passed then would
// admit the next one into the middle of this one's allocation.
//
// For a stop, "settled" means the tracked containers hold nothing and device
// use has not dropped further for SettleWindow.
func (s *Slot) Settle(ctx context.Context, healthy <-chan struct{}) SettleResult {
	if s.passthrough {
		return SettleResult{Outcome: OutcomeUnmonitored}
	}
	g := s.gate
	start := g.clk.Now()
	timeout := g.clk.NewTimer(g.cfg.SettleTimeout)
	defer timeout.Stop()
	st := settleState{op: s.req.Op, baseline: s.baseline, last: s.baseline, lastChange: start}
	st.observe(s.sample(ctx), start)
	done := func(o Outcome) SettleResult {
		return SettleResult{
			Outcome:          o,
			Elapsed:          g.clk.Since(start),
			PeakBytes:        st.trackedPeak,
			PeakKnown:        st.trackedKnown,
			DeviceDeltaBytes: int64(st.last) - int64(s.baseline),
		}
	}
	for {
		select {
		case <-healthy:
			return done(OutcomeHealthy)
		default:
		}
		now := g.clk.Now()
		if st.settled(now, g.cfg.SettleWindow) {
			return done(OutcomeSettled)
		}
		if now.Sub(start) >= g.cfg.SettleTimeout {
			return done(OutcomeTimedOut)
		}
		tick := g.clk.NewTimer(g.cfg.PollInterval)
		select {
		case <-ctx.Done():
			tick.Stop()
			return done(OutcomeCancelled)
		case <-healthy:
			tick.Stop()
			return done(OutcomeHealthy)
		case <-timeout.C():
			tick.Stop()
			return done(OutcomeTimedOut)
		case <-tick.C():
		}
		st.observe(s.sample(ctx), g.clk.Now())
	}
}

// sample is one reading for settle: device used over the request's devices
// and the tracked containers' use over all devices.
type sample struct {
	ok           bool
	used         uint64
	tracked      uint64
	trackedKnown bool
}

func (s *Slot) sample(ctx context.Context) sample {
	snap := s.gate.src.Snapshot(ctx)
	if !snap.Available {
		return sample{}
	}
	s.mu.Lock()
	ids := s.tracked
	s.mu.Unlock()
	out := sample{ok: true, used: usedOn(snap, s.req.Devices)}
	for _, d := range snap.Devices {
		for _, p := range d.Processes {
			if p.ContainerID != "" && matchesAny(p.ContainerID, ids) {
				out.tracked += p.UsedBytes
				out.trackedKnown = true
			}
		}
	}
	return out
}

func matchesAny(id string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(id, p) {
			return true
		}
	}
	return false
}

// settleState keeps the marks that decide "settled".
type settleState struct {
	op       Op
	baseline uint64

	started      bool // a sample has been seen
	grew         bool // start/restart: use has grown since admission
	high, low    uint64
	last         uint64 // latest device used
	lastChange   time.Time
	trackedNow   uint64
	trackedHigh  uint64
	trackedPeak  uint64
	trackedKnown bool
}

// observe folds in one sample taken at now. High and low marks start at the
// first sample rather than at admission: on a restart, admission saw the old
// instance's memory, so the new instance may never exceed it.
func (st *settleState) observe(sm sample, now time.Time) {
	if !sm.ok {
		return // NVML hiccup: no news is no growth
	}
	st.last = sm.used
	st.trackedNow = sm.tracked
	if sm.trackedKnown {
		st.trackedKnown = true
	}
	// trackedHigh moves only on growth beyond noise, so that a slow creep
	// still adds up to growth; trackedPeak is the plain maximum.
	trackedGrew := sm.tracked > st.trackedHigh+settleNoiseBytes || (st.trackedHigh == 0 && sm.tracked > 0)
	if trackedGrew {
		st.trackedHigh = sm.tracked
	}
	st.trackedPeak = max(st.trackedPeak, sm.tracked)
	if !st.started {
		st.started = true
		st.high, st.low = sm.used, sm.used
		if st.op != OpStop && (sm.used > st.baseline+settleNoiseBytes || trackedGrew) {
			st.grew = true
		}
		return
	}
	switch st.op {
	case OpStop:
		if sm.used+settleNoiseBytes < st.low {
			st.low = sm.used
			st.lastChange = now
		}
	default:
		deviceGrew := sm.used > st.high+settleNoiseBytes
		if deviceGrew {
			st.high = sm.used
		}
		if deviceGrew || trackedGrew {
			st.grew = true
			st.lastChange = now
		}
	}
}

func (st *settleState) settled(now time.Time, window time.Duration) bool {
	if now.Sub(st.lastChange) < window {
		return false
	}
	if st.op == OpStop {
		return st.trackedNow == 0
	}
	return st.grew
}
