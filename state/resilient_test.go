package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hostagent/hostagent/internal/clock"
)

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// flakyRemote is a Remote over a Memory that fails every call while down.
type flakyRemote struct {
	Memory
	down  atomic.Bool
	pings atomic.Int32
	// run is the server incarnation Identity reports; restart bumps it.
	run atomic.Int32

	mu   sync.Mutex
	sent [][]byte
	// gate, when set, holds Publish until it is closed.
	gate chan struct{}
	// saveHook, when set, runs at the start of every Save.
	saveHook func()
}

var errDown = errors.New("connection refused")

func (f *flakyRemote) fail() error {
	if f.down.Load() {
		return errDown
	}
	return nil
}

func (f *flakyRemote) Ping(context.Context) error {
	f.pings.Add(1)
	return f.fail()
}

func (f *flakyRemote) Identity(context.Context) (string, error) {
	if err := f.fail(); err != nil {
		return "", err
	}
	return fmt.Sprintf("run-%d", f.run.Load()), nil
}

// restart is a Redis crash and restart without persistence: everything it
// held is gone and it comes back as a new instance.
func (f *flakyRemote) restart(t *testing.T) {
	recs, _ := f.Memory.Load(context.Background())
	for name := range recs {
		if err := f.Memory.Delete(context.Background(), name); err != nil {
			t.Fatal(err)
		}
	}
	f.run.Add(1)
}

func (f *flakyRemote) Load(ctx context.Context) (map[string]Record, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Memory.Load(ctx)
}

func (f *flakyRemote) setSaveHook(h func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.saveHook = h
}

func (f *flakyRemote) Save(ctx context.Context, r Record) error {
	f.mu.Lock()
	hook := f.saveHook
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	if err := f.fail(); err != nil {
		return err
	}
	return f.Memory.Save(ctx, r)
}

func (f *flakyRemote) Delete(ctx context.Context, s string) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.Memory.Delete(ctx, s)
}

func (f *flakyRemote) Publish(ctx context.Context, p []byte) error {
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := f.fail(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, p)
	return nil
}

func (f *flakyRemote) published() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, p := range f.sent {
		out = append(out, string(p))
	}
	return out
}

type resilientRig struct {
	local  *Memory
	remote *flakyRemote
	clock  *clock.Fake
	logs   *logSink
	store  *Resilient
}

func newRig(t *testing.T, remoteDown bool, opts ResilientOptions) *resilientRig {
	t.Helper()
	rig := &resilientRig{local: NewMemory(), remote: &flakyRemote{}, clock: clock.NewFake(epoch)}
	rig.remote.down.Store(remoteDown)
	var log *slog.Logger
	rig.logs, log = newLogSink()
	opts.Logger, opts.Clock = log, rig.clock
	if opts.MinBackoff == 0 {
		opts.MinBackoff = time.Second
	}
	if opts.CheckInterval == 0 {
		opts.CheckInterval = -1 // the timing tests count timers; the check has its own test
	}
	rig.store = NewResilient(t.Context(), rig.local, rig.remote, opts)
	closeAtCleanup(t, rig.store)
	return rig
}

func (r *resilientRig) save(t *testing.T, rec Record) {
	t.Helper()
	if err := r.store.Save(t.Context(), rec); err != nil {
		t.Fatalf("save %s: %v", rec.Service, err)
	}
}

// recover brings the remote back and lets the pending reconnect run.
func (r *resilientRig) recover(t *testing.T, wait time.Duration) {
	t.Helper()
	r.remote.down.Store(false)
	r.clock.BlockUntil(1)
	r.clock.Advance(wait)
	eventually(t, "resync", r.store.Connected)
}

func loadOf(t *testing.T, st Store) map[string]Record {
	t.Helper()
	got, err := st.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func rec(service string, updated time.Duration, failures int) Record {
	return Record{Service: service, Enabled: true, FailureCount: failures, UpdatedAt: epoch.Add(updated)}
}

func TestResilientBackoffDoublesUpToMax(t *testing.T) {
	rig := newRig(t, true, ResilientOptions{MinBackoff: time.Second, MaxBackoff: 4 * time.Second})
	if rig.store.Connected() {
		t.Fatal("connected to a down remote")
	}
	if n := rig.remote.pings.Load(); n != 1 {
		t.Fatalf("pings at open = %d, want 1", n)
	}
	for i, delay := range []time.Duration{1, 2, 4, 4, 4} {
		delay *= time.Second
		rig.clock.BlockUntil(1)
		rig.clock.Advance(delay - time.Millisecond)
		// Advance fires due timers synchronously, so a timer that is still
		// armed has not fired.
		if w, n := rig.clock.Waiters(), rig.remote.pings.Load(); w != 1 || n != int32(i+1) {
			t.Fatalf("retry %d came before its %v backoff (waiters %d, pings %d)", i+1, delay, w, n)
		}
		rig.clock.Advance(time.Millisecond)
		eventually(t, fmt.Sprintf("retry %d", i+1), func() bool { return rig.remote.pings.Load() == int32(i+2) })
	}
	var waits []time.Duration
	for _, v := range rig.logs.attrs("still unreachable", "retry_in") {
		waits = append(waits, v.Duration())
	}
	if want := []time.Duration{2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}; !slices.Equal(waits, want) {
		t.Fatalf("logged retry delays %v, want %v", waits, want)
	}
	rig.recover(t, 4*time.Second)
	if n := rig.logs.count(slog.LevelWarn, "redis unreachable"); n != 1 {
		t.Fatalf("logged the outage %d times, want once", n)
	}
	if n := rig.logs.count(slog.LevelInfo, "reachable again"); n != 1 {
		t.Fatalf("logged the recovery %d times, want once", n)
	}
}

func TestResilientOutageKeepsServingFromLocal(t *testing.T) {
	rig := newRig(t, false, ResilientOptions{})
	if !rig.store.Connected() {
		t.Fatal("not connected to an up remote")
	}
	a, gone := rec("a", 1, 1), rec("gone", 1, 1)
	rig.save(t, a)
	rig.save(t, gone)
	wantRecords(t, loadOf(t, rig.remote), a, gone)

	rig.remote.down.Store(true)
	b, a2 := rec("b", 2, 0), rec("a", 3, 2)
	for _, r := range []Record{b, a2, rec("c", 4, 0)} {
		rig.save(t, r)
	}
	for _, name := range []string{"c", "gone"} {
		if err := rig.store.Delete(t.Context(), name); err != nil {
			t.Fatalf("delete during outage: %v", err)
		}
	}
	if rig.store.Connected() {
		t.Fatal("still connected after a failed write")
	}
	wantRecords(t, loadOf(t, rig.store), a2, b)
	if n := rig.logs.count(slog.LevelWarn, "redis unreachable"); n != 1 {
		t.Fatalf("logged the outage %d times over 5 failed writes, want once", n)
	}

	// The resync pushes what changed and applies the delete rather than
	// pulling "gone" back.
	rig.recover(t, time.Second)
	wantRecords(t, loadOf(t, rig.remote), a2, b)
	wantRecords(t, loadOf(t, rig.local), a2, b)

	// Writes go straight through again, and a second outage is logged again.
	c := rec("c", 5, 0)
	rig.save(t, c)
	wantRecords(t, loadOf(t, rig.remote), a2, b, c)
	rig.remote.down.Store(true)
	rig.save(t, rec("d", 6, 0))
	if n := rig.logs.count(slog.LevelWarn, "redis unreachable"); n != 2 {
		t.Fatalf("second outage logged %d warnings in all, want 2", n)
	}
}

func TestResilientResyncNewestUpdatedAtWins(t *testing.T) {
	local, remote := NewMemory(), &flakyRemote{}
	seed := func(st Store, recs ...Record) {
		for _, r := range recs {
			if err := st.Save(t.Context(), r); err != nil {
				t.Fatal(err)
			}
		}
	}
	tieLocal, tieRemote := rec("tie", 5, 1), rec("tie", 5, 9)
	seed(local, rec("newer-here", 2, 2), rec("older-here", 1, 1), rec("only-here", 1, 1), tieLocal)
	seed(&remote.Memory, rec("newer-here", 1, 1), rec("older-here", 2, 2), rec("only-there", 1, 1), tieRemote)

	s := NewResilient(t.Context(), local, remote, ResilientOptions{Clock: clock.NewFake(epoch)})
	closeAtCleanup(t, s)
	if !s.Connected() {
		t.Fatal("not connected after the initial sync")
	}
	want := []Record{rec("newer-here", 2, 2), rec("older-here", 2, 2), rec("only-here", 1, 1), rec("only-there", 1, 1), tieLocal}
	wantRecords(t, loadOf(t, local), want...)
	wantRecords(t, loadOf(t, &remote.Memory), want...)
}

// A remote record stamped in the future (a wrong clock, a forged record)
// does not win the resync over a newer local one.
func TestResilientResyncDistrustsAFutureUpdatedAt(t *testing.T) {
	local, remote := NewMemory(), &flakyRemote{}
	if err := local.Save(t.Context(), rec("db", 0, 1)); err != nil {
		t.Fatal(err)
	}
	if err := remote.Memory.Save(t.Context(), rec("db", 365*24*time.Hour, 9)); err != nil {
		t.Fatal(err)
	}
	// The agent's clock: an hour after the local save.
	s := NewResilient(t.Context(), local, remote, ResilientOptions{Clock: clock.NewFake(epoch.Add(time.Hour))})
	closeAtCleanup(t, s)
	got := loadOf(t, local)
	if got["db"].FailureCount == 9 && got["db"].UpdatedAt.After(epoch.Add(2*time.Hour)) {
		t.Errorf("the future-dated remote record was taken as it is: %+v", got["db"])
	}
}

func TestResilientSavesDuringResyncAreNotLost(t *testing.T) {
	rig := newRig(t, true, ResilientOptions{})
	rig.save(t, rec("before", 1, 1))
	// Hold the resync at its first push, write locally, then let it finish:
	// it must notice the write and sync again before going up.
	pushing, proceed := make(chan struct{}), make(chan struct{})
	var once sync.Once
	rig.remote.setSaveHook(func() {
		once.Do(func() {
			close(pushing)
			<-proceed
		})
	})
	rig.remote.down.Store(false)
	rig.clock.BlockUntil(1)
	rig.clock.Advance(time.Second)
	select {
	case <-pushing:
	case <-time.After(5 * time.Second):
		t.Fatal("the resync never pushed the record saved during the outage")
	}
	rig.save(t, rec("during", 2, 2))
	if rig.store.Connected() {
		t.Fatal("connected before the resync finished")
	}
	close(proceed)
	eventually(t, "resync", rig.store.Connected)
	wantRecords(t, loadOf(t, &rig.remote.Memory), rec("before", 1, 1), rec("during", 2, 2))
}

func TestResilientPublishNeverBlocks(t *testing.T) {
	rig := newRig(t, false, ResilientOptions{QueueSize: 2})
	for i := range 3 {
		if err := rig.store.Publish(t.Context(), fmt.Appendf(nil, "e%d", i)); err != nil {
			t.Fatal(err)
		}
		eventually(t, "event sent", func() bool { return len(rig.remote.published()) == i+1 })
	}
	if got := rig.remote.published(); got[0] != "e0" || got[2] != "e2" {
		t.Fatalf("published %v, want in order", got)
	}

	// A stuck remote: the queue fills and Publish drops instead of waiting.
	gate := make(chan struct{})
	rig.remote.mu.Lock()
	rig.remote.gate = gate
	rig.remote.mu.Unlock()
	start := time.Now()
	var dropped int
	for i := range 10 {
		if err := rig.store.Publish(t.Context(), fmt.Appendf(nil, "s%d", i)); errors.Is(err, ErrDropped) {
			dropped++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if dropped < 7 || time.Since(start) > time.Second {
		t.Fatalf("dropped %d of 10 in %v with a queue of 2 and a stuck remote", dropped, time.Since(start))
	}
	rig.remote.mu.Lock()
	rig.remote.gate = nil
	rig.remote.mu.Unlock()
	close(gate)

	// Down: dropped at once.
	rig.remote.down.Store(true)
	rig.save(t, rec("x", 1, 0)) // the failed write notices the outage
	if err := rig.store.Publish(t.Context(), []byte("lost")); !errors.Is(err, ErrDropped) {
		t.Fatalf("publish while down = %v, want ErrDropped", err)
	}
	if rig.store.Dropped() < uint64(dropped)+1 {
		t.Fatalf("Dropped() = %d", rig.store.Dropped())
	}
}

func TestResilientCallerCancelIsNotAnOutage(t *testing.T) {
	rig := newRig(t, false, ResilientOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := rig.store.Save(ctx, rec("a", 1, 1)); err != nil {
		t.Fatal(err)
	}
	if !rig.store.Connected() {
		t.Fatal("a cancelled caller context marked the remote down")
	}
	wantRecords(t, loadOf(t, rig.remote), rec("a", 1, 1))
}

func TestResilientClosed(t *testing.T) {
	rig := newRig(t, true, ResilientOptions{})
	rig.clock.BlockUntil(1) // the reconnect loop is waiting; Close must end it
	if err := rig.store.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rig.store.Save(t.Context(), rec("a", 1, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("save after close = %v", err)
	}
	if err := rig.store.Publish(t.Context(), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish after close = %v", err)
	}
}

func TestResilientResyncsARemoteThatRestartedEmpty(t *testing.T) {
	rig := newRig(t, false, ResilientOptions{CheckInterval: 5 * time.Second})
	rig.save(t, rec("api", time.Minute, 2))
	rig.save(t, rec("db", time.Minute, 1))
	// Redis crashes and comes back empty between two saves: every call
	// would succeed, so only the identity check can tell.
	rig.remote.restart(t)
	rig.clock.BlockUntil(1)
	rig.clock.Advance(5 * time.Second)
	eventually(t, "the restart noticed", func() bool { return !rig.store.Connected() })
	rig.clock.BlockUntil(1)
	rig.clock.Advance(time.Second) // the first reconnect attempt
	eventually(t, "resynced", func() bool { return rig.store.Connected() })
	got, err := rig.remote.Memory.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["api"].FailureCount != 2 || got["db"].FailureCount != 1 {
		t.Fatalf("remote after the resync = %+v, want both records back", got)
	}
	if n := rig.logs.count(slog.LevelWarn, "redis restarted"); n != 1 {
		t.Errorf("restart logged %d times, want once", n)
	}
}
