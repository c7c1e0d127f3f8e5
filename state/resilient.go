package state

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hostagent/hostagent/internal/clock"
)

// Remote is what Resilient needs from the shared store: Redis satisfies it.
type Remote interface {
	Store
	Publisher
	Ping(ctx context.Context) error
	// Identity names the running server instance (Redis's run_id): a new
	// one means the server restarted and may have lost what it held.
	Identity(ctx context.Context) (string, error)
}

// ResilientOptions tunes a Resilient store; the zero value is usable.
type ResilientOptions struct {
	Logger *slog.Logger
	Clock  clock.Clock
	// MinBackoff and MaxBackoff bound the wait between reconnect attempts,
	// which doubles from min to max (defaults 1 s and 30 s).
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// QueueSize bounds the events waiting to be published (default 128);
	// past it Publish drops.
	QueueSize int
	// CheckInterval is how often a remote in use is asked who it is, to
	// notice a restart that lost its data between two saves (default 5 s;
	// negative: never).
	CheckInterval time.Duration
}

// Resilient writes every change to a local store (the truth) and mirrors it
// to a remote one while the remote is reachable.
//
// When a remote call fails it logs once, goes on serving from the local store
// and reconnects in the background with exponential backoff. A reconnect
// resyncs both ways before the remote is used again:
//
//   - a record on one side only is copied to the other (so a wiped state
//     directory is restored from Redis, and records saved during an outage
//     reach Redis);
//   - a record on both sides: the newer UpdatedAt wins; on a tie the local
//     copy wins;
//   - a record deleted locally during the outage is deleted remotely. These
//     tombstones live in memory: if the agent restarts before Redis is back,
//     the deleted record comes back from Redis at the next sync.
//
// Writes are serialised. A remote that refuses connections fails at once; one
// that stops answering holds the Save that finds out for up to the remote's
// timeout, after which Saves are local-only until the resync.
//
// Publish never blocks: events are queued (bounded) and sent by a background
// goroutine; while the remote is down they are dropped with ErrDropped.
type Resilient struct {
	local  Store
	remote Remote
	log    *slog.Logger
	clock  clock.Clock
	minB   time.Duration
	maxB   time.Duration
	check  time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{}
	events chan []byte

	up      atomic.Bool
	dropped atomic.Uint64

	// mu serialises writes (local then remote) so both sides see them in the
	// same order, and guards the fields below.
	mu sync.Mutex
	// gen counts changes the remote has not seen; a resync marks the remote
	// up only if gen did not move while it ran.
	gen        uint64
	tombstones map[string]struct{}
	closed     bool
	// remoteID is the remote's Identity at the last successful sync.
	remoteID string
}

// NewResilient tries one sync with remote (bounded by the remote's timeouts)
// so that Load right after sees what Redis had, then starts the background
// reconnect and publish goroutines. It does not fail when remote is down.
// Close closes local and remote.
func NewResilient(ctx context.Context, local Store, remote Remote, opts ResilientOptions) *Resilient {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.New()
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(30*time.Second, opts.MinBackoff)
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 128
	}
	if opts.CheckInterval == 0 {
		opts.CheckInterval = 5 * time.Second
	}
	s := &Resilient{
		local:      local,
		remote:     remote,
		log:        opts.Logger.With("store", "resilient"),
		clock:      opts.Clock,
		minB:       opts.MinBackoff,
		maxB:       opts.MaxBackoff,
		check:      opts.CheckInterval,
		kick:       make(chan struct{}, 1),
		events:     make(chan []byte, opts.QueueSize),
		tombstones: map[string]struct{}{},
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if pushed, pulled, err := s.sync(ctx); err != nil {
		s.log.Warn("redis unreachable; keeping state in the local file and retrying in the background", "err", err)
		s.kickReconnect()
	} else {
		s.log.Info("redis state in sync", "pushed", pushed, "pulled", pulled)
	}
	s.wg.Add(2)
	go s.reconnectLoop()
	go s.publishLoop()
	if s.check > 0 {
		s.wg.Add(1)
		go s.checkLoop()
	}
	return s
}

// checkLoop notices a remote that restarted (a new Identity: an empty Redis
// answers every call as if nothing happened) or went away between saves,
// and sends the store through a resync.
func (s *Resilient) checkLoop() {
	defer s.wg.Done()
	for {
		t := s.clock.NewTimer(s.check)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		if !s.up.Load() {
			continue
		}
		id, err := s.remote.Identity(s.ctx)
		if err != nil {
			s.markDown(err)
			continue
		}
		s.mu.Lock()
		known := s.remoteID
		s.mu.Unlock()
		if id != known && s.up.CompareAndSwap(true, false) {
			s.log.Warn("redis restarted (new run_id); resyncing the state from the local file", "was", known, "now", id)
			s.kickReconnect()
		}
	}
}

// Connected reports whether the remote is in use (reachable and in sync).
func (s *Resilient) Connected() bool { return s.up.Load() }

// Dropped counts the events not published since the store was opened.
func (s *Resilient) Dropped() uint64 { return s.dropped.Load() }

// Load returns the local records: the local store is the truth, and while
// the remote is up the two agree.
func (s *Resilient) Load(ctx context.Context) (map[string]Record, error) {
	return s.local.Load(ctx)
}

// Save writes the local store and then, when it is up, the remote. Only a
// local failure is an error; a remote failure switches to local-only mode.
func (s *Resilient) Save(ctx context.Context, r Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.local.Save(ctx, r); err != nil {
		return err
	}
	delete(s.tombstones, r.Service)
	s.mirrorLocked(func(ctx context.Context) error { return s.remote.Save(ctx, r) })
	return nil
}

// Delete removes the record locally and, when it is up, remotely; during an
// outage it leaves a tombstone for the resync.
func (s *Resilient) Delete(ctx context.Context, service string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.local.Delete(ctx, service); err != nil {
		return err
	}
	s.tombstones[service] = struct{}{}
	if s.mirrorLocked(func(ctx context.Context) error { return s.remote.Delete(ctx, service) }) {
		delete(s.tombstones, service)
	}
	return nil
}

// mirrorLocked applies a change already made locally to the remote, or
// records that the remote missed it. It reports whether the remote has it.
func (s *Resilient) mirrorLocked(apply func(context.Context) error) bool {
	if !s.up.Load() {
		s.gen++
		return false
	}
	// The caller giving up must not look like an outage: the remote call
	// runs on the store's own lifetime, bounded by the remote's timeout.
	if err := apply(s.ctx); err != nil {
		s.gen++
		s.markDown(err)
		return false
	}
	return true
}

// markDown switches to local-only mode, logging only the transition.
func (s *Resilient) markDown(err error) {
	if s.ctx.Err() != nil {
		return
	}
	if s.up.CompareAndSwap(true, false) {
		s.log.Warn("redis unreachable; keeping state in the local file and retrying in the background", "err", err)
	}
	s.kickReconnect()
}

func (s *Resilient) kickReconnect() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Publish queues payload for the remote without blocking. It returns
// ErrDropped when the remote is down or the queue is full.
func (s *Resilient) Publish(_ context.Context, payload []byte) error {
	if s.ctx.Err() != nil {
		return ErrClosed
	}
	if !s.up.Load() {
		s.dropped.Add(1)
		return ErrDropped
	}
	select {
	case s.events <- bytes.Clone(payload):
		return nil
	default:
		s.dropped.Add(1)
		return ErrDropped
	}
}

func (s *Resilient) publishLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case p := <-s.events:
			if !s.up.Load() {
				s.dropped.Add(1)
				continue
			}
			if err := s.remote.Publish(s.ctx, p); err != nil {
				s.dropped.Add(1)
				s.markDown(err)
			}
		}
	}
}

func (s *Resilient) reconnectLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.kick:
		}
		if !s.reconnect() {
			return
		}
	}
}

// reconnect retries sync until it succeeds (true) or the store closes
// (false). The n-th attempt after an outage is seen waits
// min(MinBackoff*2^(n-1), MaxBackoff): the call that saw the failure has
// just tried, so trying again at once would only fail again.
func (s *Resilient) reconnect() bool {
	delay := s.minB
	for attempt := 1; !s.up.Load(); attempt++ {
		t := s.clock.NewTimer(delay)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return false
		case <-t.C():
		}
		pushed, pulled, err := s.sync(s.ctx)
		if err == nil {
			s.log.Info("redis reachable again; state resynced", "attempt", attempt, "pushed", pushed, "pulled", pulled)
			return true
		}
		if s.ctx.Err() != nil {
			return false
		}
		delay = min(2*delay, s.maxB)
		s.log.Debug("redis still unreachable", "attempt", attempt, "retry_in", delay, "err", err)
	}
	return true
}

// sync reconciles local and remote (see the type's comment) and marks the
// remote up. Network calls run outside mu, so Saves during a sync go on
// locally; if any happened, the sync runs again before declaring success.
func (s *Resilient) sync(ctx context.Context) (pushed, pulled int, err error) {
	for {
		if err := s.remote.Ping(ctx); err != nil {
			return pushed, pulled, err
		}
		id, err := s.remote.Identity(ctx)
		if err != nil {
			return pushed, pulled, err
		}
		remote, err := s.remote.Load(ctx)
		if err != nil {
			return pushed, pulled, err
		}

		s.mu.Lock()
		gen := s.gen
		push, deletes, n, err := s.mergeLocked(ctx, remote)
		s.mu.Unlock()
		pulled += n
		if err != nil {
			return pushed, pulled, err
		}

		for _, r := range push {
			if err := s.remote.Save(ctx, r); err != nil {
				return pushed, pulled, err
			}
			pushed++
		}
		for _, service := range deletes {
			if err := s.remote.Delete(ctx, service); err != nil {
				return pushed, pulled, err
			}
		}

		s.mu.Lock()
		if s.gen == gen && !s.closed {
			// Every tombstone is now applied or had nothing to delete; a
			// newer one would have moved gen.
			clear(s.tombstones)
			s.remoteID = id
			s.up.Store(true)
			s.mu.Unlock()
			return pushed, pulled, nil
		}
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return pushed, pulled, ErrClosed
		}
	}
}

// mergeLocked pulls remote records that win into the local store and returns
// the local records and tombstones the remote must receive.
func (s *Resilient) mergeLocked(ctx context.Context, remote map[string]Record) (push []Record, deletes []string, pulled int, err error) {
	local, err := s.local.Load(ctx)
	if err != nil {
		return nil, nil, 0, err
	}
	for service, rr := range remote {
		if _, gone := s.tombstones[service]; gone {
			deletes = append(deletes, service)
			continue
		}
		// A remote clock ahead of ours must not win every resync.
		if now := s.clock.Now(); rr.UpdatedAt.After(now.Add(ClockSkew)) {
			rr.UpdatedAt = now
		}
		lr, ok := local[service]
		if ok && !rr.UpdatedAt.After(lr.UpdatedAt) {
			continue
		}
		if err := s.local.Save(ctx, rr); err != nil {
			return nil, nil, pulled, err
		}
		pulled++
	}
	for service, lr := range local {
		rr, ok := remote[service]
		if !ok || lr.UpdatedAt.After(rr.UpdatedAt) || (lr.UpdatedAt.Equal(rr.UpdatedAt) && !sameRecord(lr, rr)) {
			push = append(push, lr)
		}
	}
	return push, deletes, pulled, nil
}

// Close stops the background work and closes both stores. Events still
// queued are dropped.
func (s *Resilient) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.up.Store(false)
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return errors.Join(s.remote.Close(), s.local.Close())
}
