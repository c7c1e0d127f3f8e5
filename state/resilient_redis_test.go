package state

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/hostagent/hostagent/internal/testsupport/redistest"

	"github.com/hostagent/hostagent/internal/clock"
)

// openResilient opens File(root)+Redis(srv) for project, as Open would.
func openResilient(t *testing.T, root string, srv *redistest.Server, project string, clk clock.Clock, log *slog.Logger) *Resilient {
	t.Helper()
	f, err := NewFile(root, project, log, clk)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := NewRedis(srv.URL(), project, RedisOptions{Timeout: 500 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	s := NewResilient(t.Context(), f, rd, ResilientOptions{Logger: log, Clock: clk, MinBackoff: time.Second})
	closeAtCleanup(t, s)
	return s
}

func TestResilientStore(t *testing.T) {
	testStore(t, func(t *testing.T) opener {
		root, srv := t.TempDir(), redistest.Start(t)
		return func(t *testing.T, project string) Store {
			return openResilient(t, root, srv, project, clock.NewFake(epoch), nil)
		}
	})
}

func TestResilientRedisRestartMidRun(t *testing.T) {
	root, srv := t.TempDir(), redistest.Start(t)
	clk := clock.NewFake(epoch)
	logs, log := newLogSink()
	s := openResilient(t, root, srv, "proj", clk, log)
	if !s.Connected() {
		t.Fatal("not connected to a running redis-server")
	}
	a := fullRecord("ai-llm")
	if err := s.Save(t.Context(), a); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	b := fullRecord("backend")
	b.FailureCount, b.UpdatedAt = 4, a.UpdatedAt.Add(time.Minute)
	a.RestartCount, a.UpdatedAt = 8, a.UpdatedAt.Add(time.Minute)
	start := time.Now()
	for _, r := range []Record{b, a} {
		if err := s.Save(t.Context(), r); err != nil {
			t.Fatalf("save with redis down: %v", err)
		}
	}
	if err := s.Publish(t.Context(), []byte("while down")); !errors.Is(err, ErrDropped) {
		t.Fatalf("publish with redis down = %v, want ErrDropped", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("calls with redis down took %v", took)
	}
	if s.Connected() {
		t.Fatal("still connected with redis-server killed")
	}
	wantRecords(t, loadOf(t, s), a, b)
	if n := logs.count(slog.LevelWarn, "redis unreachable"); n != 1 {
		t.Fatalf("logged the outage %d times, want once", n)
	}

	// It comes back empty (no persistence): the resync must refill it.
	srv.Run()
	clk.BlockUntil(1)
	clk.Advance(time.Second)
	eventually(t, "reconnect", s.Connected)
	behind, err := NewRedis(srv.URL(), "proj", RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, behind)
	wantRecords(t, loadOf(t, behind), a, b)
}

func TestResilientAgentRestartResumesCounts(t *testing.T) {
	root, srv := t.TempDir(), redistest.Start(t)
	r := fullRecord("ai-florence")
	// The agent's clock is after the record was written (a stored time in
	// the future is not trusted as is).
	clk := clock.NewFake(r.UpdatedAt.Add(time.Hour))
	first := openResilient(t, root, srv, "proj", clk, nil)
	r.FailureCount, r.RestartCount = 4, 11
	if err := first.Save(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart with Redis up.
	up := openResilient(t, root, srv, "proj", clk, nil)
	wantRecords(t, loadOf(t, up), r)
	if err := up.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart with Redis down: the file alone gives the same counts.
	srv.Stop()
	start := time.Now()
	down := openResilient(t, root, srv, "proj", clk, nil)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("opening with redis down took %v", took)
	}
	if down.Connected() {
		t.Fatal("connected with redis-server stopped")
	}
	wantRecords(t, loadOf(t, down), r)

	// Restart on a wiped state directory with Redis up: Redis restores it.
	srv.Run()
	seed, err := NewRedis(srv.URL(), "proj", RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, seed)
	if err := seed.Save(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	fresh := openResilient(t, t.TempDir(), srv, "proj", clk, nil)
	wantRecords(t, loadOf(t, fresh), r)
}

func TestResilientPublishReachesSubscriber(t *testing.T) {
	srv := redistest.Start(t)
	s := openResilient(t, t.TempDir(), srv, "proj", clock.NewFake(epoch), nil)
	sub := srv.Client(t).Subscribe(t.Context(), EventsChannel("proj"))
	defer sub.Close()
	if _, err := sub.Receive(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(t.Context(), []byte(`{"status":"healthy"}`)); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.ReceiveMessage(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if msg.Payload != `{"status":"healthy"}` {
		t.Fatalf("received %q", msg.Payload)
	}
}

func TestResilientRealRedisRestartWithoutASaveInBetween(t *testing.T) {
	root, srv := t.TempDir(), redistest.Start(t)
	f, err := NewFile(root, "proj", nil, clock.New())
	if err != nil {
		t.Fatal(err)
	}
	rd, err := NewRedis(srv.URL(), "proj", RedisOptions{Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := NewResilient(t.Context(), f, rd, ResilientOptions{CheckInterval: 100 * time.Millisecond, MinBackoff: 50 * time.Millisecond})
	closeAtCleanup(t, s)
	for _, name := range []string{"api", "db", "web"} {
		if err := s.Save(t.Context(), Record{Service: name, Enabled: true, RestartCount: 3, UpdatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	srv.Stop()
	srv.Run() // no persistence: it comes back empty, and every call works
	c := srv.Client(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := c.HLen(t.Context(), ServicesKey("proj")).Result()
		if err == nil && n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis holds %d records 5s after it restarted empty, want the 3 from the file (err %v)", n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
