package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/gpu"
	"github.com/hostagent/hostagent/internal/clock"
	"github.com/hostagent/hostagent/supervisor"
)

const testToken = "s3cret-token"

var t0 = time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)

// fakeSup is a hand-written supervisor: a list of statuses, an event log and
// subscribers that, like the real one, lose events rather than block.
type fakeSup struct {
	clk *clock.Fake

	mu         sync.Mutex
	svcs       []supervisor.ServiceStatus
	progress   supervisor.Progress
	events     []supervisor.Event
	seq        uint64
	subs       map[int]chan supervisor.Event
	nextSub    int
	calls      []string
	eventLimit int
	callErr    error
	panicOn    string
}

func newFakeSup() *fakeSup {
	last := t0.Add(-time.Hour)
	f := &fakeSup{clk: clock.NewFake(t0), subs: map[int]chan supervisor.Event{}}
	add := func(name, display, cat string, phase int, track compose.Track, st supervisor.Status, port int) {
		f.svcs = append(f.svcs, supervisor.ServiceStatus{
			Name: name, DisplayName: display, Category: cat, Status: st, Enabled: true,
			ContainerID: fmt.Sprintf("%012x", len(f.svcs)+0xabc123def000), Image: "security-" + name + ":latest",
			Port: port, Phase: phase, Track: string(track), HealthMethod: "http", UptimeSeconds: 3600,
		})
	}
	add("postgres", "PostgreSQL", "infrastructure", 1, compose.TrackCore, supervisor.Running, 5432)
	add("redis", "Redis", "infrastructure", 1, compose.TrackCore, supervisor.Running, 6379)
	add("ai-yolo26", "YOLO26", "ai", 2, compose.TrackCore, supervisor.Running, 8095)
	add("backend", "Backend", "application", 3, compose.TrackCore, supervisor.Running, 8000)
	add("prometheus", "Prometheus", "monitoring", 1, compose.TrackMonitoring, supervisor.Running, 9090)
	f.svcs[2].RestartCount = 2
	f.svcs[2].LastRestartAt = &last
	f.progress = supervisor.Progress{Phase: 3, Phases: 3, Running: 5, Total: 5, Done: true}
	return f
}

func (f *fakeSup) Services() []supervisor.ServiceStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.panicOn == "Services" {
		panic("fake: Services exploded")
	}
	return append([]supervisor.ServiceStatus(nil), f.svcs...)
}

func (f *fakeSup) Service(name string) (supervisor.ServiceStatus, bool) {
	for _, s := range f.Services() {
		if s.Name == name {
			return s, true
		}
	}
	return supervisor.ServiceStatus{}, false
}

func (f *fakeSup) record(call string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	return f.callErr
}

func (f *fakeSup) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Restart plays a manual restart as three events.
func (f *fakeSup) Restart(_ context.Context, name string, reset bool) error {
	if _, ok := f.Service(name); !ok {
		return fmt.Errorf("%w %q", supervisor.ErrUnknownService, name)
	}
	if err := f.record(fmt.Sprintf("restart %s reset=%v", name, reset)); err != nil {
		return err
	}
	f.publish(name, supervisor.MsgManualRestart, func(s *supervisor.ServiceStatus) {
		s.Status = supervisor.Starting
		if reset {
			s.FailureCount = 0
		}
	})
	f.publish(name, supervisor.MsgRestartCompleted, func(s *supervisor.ServiceStatus) {
		s.RestartCount++
		t := f.clk.Now()
		s.LastRestartAt = &t
		s.UptimeSeconds = 0
	})
	f.publish(name, supervisor.MsgRecovered, func(s *supervisor.ServiceStatus) { s.Status = supervisor.Running })
	return nil
}

func (f *fakeSup) Enable(_ context.Context, name string) error {
	if _, ok := f.Service(name); !ok {
		return fmt.Errorf("%w %q", supervisor.ErrUnknownService, name)
	}
	if err := f.record("enable " + name); err != nil {
		return err
	}
	f.publish(name, supervisor.MsgEnabled, func(s *supervisor.ServiceStatus) { s.Enabled = true })
	return nil
}

func (f *fakeSup) Disable(_ context.Context, name string) error {
	if _, ok := f.Service(name); !ok {
		return fmt.Errorf("%w %q", supervisor.ErrUnknownService, name)
	}
	if err := f.record("disable " + name); err != nil {
		return err
	}
	f.publish(name, supervisor.MsgDisabled, func(s *supervisor.ServiceStatus) {
		s.Enabled = false
		s.Status = supervisor.Disabled
	})
	return nil
}

func (f *fakeSup) Events(limit int) []supervisor.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.eventLimit = limit
	if limit <= 0 || limit > len(f.events) {
		limit = len(f.events)
	}
	return append([]supervisor.Event(nil), f.events[len(f.events)-limit:]...)
}

func (f *fakeSup) Subscribe(buf int) (<-chan supervisor.Event, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.nextSub
	f.nextSub++
	c := make(chan supervisor.Event, max(buf, 1))
	f.subs[id] = c
	return c, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.subs, id)
	}
}

func (f *fakeSup) Progress() supervisor.Progress {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.progress
}

func (f *fakeSup) Plan() *compose.Plan {
	return &compose.Plan{Project: "security", CriticalPath: []string{"postgres", "ai-yolo26", "backend"},
		Phases: []compose.Phase{{Number: 1, Name: "Data Infrastructure", Services: []string{"postgres", "redis"}}}}
}

// publish changes a service and emits an event without ever blocking, as
// the real supervisor does.
func (f *fakeSup) publish(name, msg string, change func(*supervisor.ServiceStatus)) {
	f.mu.Lock()
	var ev supervisor.Event
	for i := range f.svcs {
		if f.svcs[i].Name == name {
			change(&f.svcs[i])
			f.seq++
			ev = supervisor.Event{Type: supervisor.EventTypeServiceStatus, Data: f.svcs[i], Message: msg, Time: f.clk.Now(), Seq: f.seq}
		}
	}
	f.events = append(f.events, ev)
	subs := make([]chan supervisor.Event, 0, len(f.subs))
	for _, c := range f.subs {
		subs = append(subs, c)
	}
	f.mu.Unlock()
	for _, c := range subs {
		select {
		case c <- ev:
		default:
		}
	}
}

func (f *fakeSup) set(name string, change func(*supervisor.ServiceStatus)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.svcs {
		if f.svcs[i].Name == name {
			change(&f.svcs[i])
		}
	}
}

type fakeGPU struct{ snap gpu.Snapshot }

func (g fakeGPU) Snapshot(context.Context) gpu.Snapshot { return g.snap }

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newServer builds a server on the fake with the test token.
func newServer(t *testing.T, f *fakeSup, opts Options) *Server {
	t.Helper()
	if opts.Clock == nil {
		opts.Clock = f.clk
	}
	if opts.Addr == "" && opts.Socket == "" {
		opts.Addr = "127.0.0.1:0"
	}
	s, err := New(f, StaticToken(testToken), quietLogger(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s
}

// do sends a request through the handler; token "" sends none.
func do(t *testing.T, h http.Handler, method, target, token string) *httptest.ResponseRecorder {
	t.Helper()
	r := newRequest(t, method, target, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return serve(h, r)
}

func newRequest(t *testing.T, method, target string, body io.Reader) *http.Request {
	t.Helper()
	return httptest.NewRequest(method, "http://localhost"+target, body)
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func wantCode(t *testing.T, w *httptest.ResponseRecorder, code int) {
	t.Helper()
	if w.Code != code {
		t.Fatalf("status %d, want %d; body: %s", w.Code, code, w.Body.String())
	}
	if ct := w.Header().Get("Content-Type"); code != http.StatusNoContent && !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q", ct)
	}
}
