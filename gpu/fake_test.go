package gpu

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostagent/hostagent/internal/clock"
)

const (
	mib uint64 = 1 << 20
	gib uint64 = 1 << 30
)

// fakeSource is a SnapshotSource whose devices tests edit.
type fakeSource struct {
	mu    sync.Mutex
	snap  Snapshot
	reads int
}

func newFakeSource(totals ...uint64) *fakeSource {
	s := &fakeSource{snap: Snapshot{Available: true, DriverVersion: "550.54.15"}}
	for i, t := range totals {
		s.snap.Devices = append(s.snap.Devices, Device{
			Index: i, UUID: "GPU-" + string(rune('a'+i)), Name: "Fake GPU", TotalBytes: t, FreeBytes: t,
		})
	}
	return s
}

func (s *fakeSource) Snapshot(context.Context) Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	out := s.snap
	out.Devices = make([]Device, len(s.snap.Devices))
	for i, d := range s.snap.Devices {
		d.Processes = append([]Process(nil), d.Processes...)
		out.Devices[i] = d
	}
	return out
}

// setUsed sets device dev's used memory; free is the rest.
func (s *fakeSource) setUsed(dev int, used uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := &s.snap.Devices[dev]
	d.UsedBytes, d.FreeBytes = used, d.TotalBytes-used
}

func (s *fakeSource) addUsed(dev int, delta int64) {
	s.mu.Lock()
	d := s.snap.Devices[dev]
	s.mu.Unlock()
	s.setUsed(dev, uint64(int64(d.UsedBytes)+delta))
}

func (s *fakeSource) used(dev int) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap.Devices[dev].UsedBytes
}

// setProcesses replaces device dev's processes and sets used to their sum
// plus extra.
func (s *fakeSource) setProcesses(dev int, extra uint64, ps ...Process) {
	var sum uint64
	for _, p := range ps {
		sum += p.UsedBytes
	}
	s.setUsed(dev, sum+extra)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snap.Devices[dev].Processes = ps
}

func (s *fakeSource) readCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

// logRecorder is a slog.Handler that keeps every record's message.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	line := rec.Message
	rec.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
	r.msgs = append(r.msgs, line)
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

// count reports how many records contain sub.
func (r *logRecorder) count(sub string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.Contains(m, sub) {
			n++
		}
	}
	return n
}

func newLogger() (*slog.Logger, *logRecorder) {
	r := &logRecorder{}
	return slog.New(r), r
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// testGate is a gate on a fake source and clock with 1s polls, a 5s settle
// window and a 60s settle timeout.
func testGate(t *testing.T, src *fakeSource, margin uint64) (*Gate, *clock.Fake, *logRecorder) {
	t.Helper()
	clk := clock.NewFake(epoch)
	log, rec := newLogger()
	g := NewGate(src, clk, log, GateConfig{
		SettleWindow: 5 * time.Second, SettleTimeout: 60 * time.Second,
		PollInterval: time.Second, MarginBytes: margin,
	})
	return g, clk, rec
}

// eventually polls cond in real time; the code under test parks on
// channels that the fake clock cannot see.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitersReach waits until the fake clock has n armed timers.
func waitersReach(t *testing.T, clk *clock.Fake, n int) {
	t.Helper()
	eventually(t, "armed timers", func() bool { return clk.Waiters() >= n })
}

func reasons(g *Gate) []string {
	var out []string
	for _, w := range g.Waiting() {
		out = append(out, w.Service+": "+w.Reason)
	}
	return out
}

type acquired struct {
	slot *Slot
	err  error
}

// acquireAsync runs Acquire in a goroutine; the result arrives on the channel.
func acquireAsync(ctx context.Context, g *Gate, r Request) <-chan acquired {
	ch := make(chan acquired, 1)
	go func() {
		s, err := g.Acquire(ctx, r)
		ch <- acquired{s, err}
	}()
	return ch
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	panic("unreachable")
}

func notYet[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("%s happened too early", what)
	case <-time.After(20 * time.Millisecond):
	}
}
