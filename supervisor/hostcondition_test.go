package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostagent/hostagent/compose"
)

// logRecorder keeps every log record, at every level.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// lines returns the messages at level lv or above that contain sub.
func (l *logRecorder) lines(lv slog.Level, sub string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		if r.Level >= lv && strings.Contains(r.Message, sub) {
			out = append(out, r.Message)
		}
	}
	return out
}

// withLogger rebuilds the harness's supervisor with a recording logger.
func (h *harness) withLogger() *logRecorder {
	rec := &logRecorder{}
	h.sup = New(h.stack, h.plan, Config{}, Deps{
		Engine: h.engine,
		Probes: func(svc *compose.Service) Prober {
			return fakeProber{health: h.health, engine: h.engine, service: svc.Name}
		},
		Store:  h.store,
		Clock:  h.clock,
		Logger: slog.New(rec),
	})
	return rec
}

// Podman without a firewall backend refuses every start alike: that is
// one condition of the host, shown once, never a failure of each service.
func TestEngineSetupIsOneHostCondition(t *testing.T) {
	h := newHarness(t, `
services:
  db: {image: x, healthcheck: {test: 'true', interval: 1s}}
  cache: {image: x, healthcheck: {test: 'true', interval: 1s}}
  api:
    image: x
    healthcheck: {test: 'true', interval: 1s}
    depends_on: {db: {condition: service_healthy, required: false}, cache: {condition: service_started, required: false}}
  web: {image: x, depends_on: {api: {condition: service_started, required: false}}}
`, Config{})
	logs := h.withLogger()
	h.step = time.Second
	const why = "engine cannot start containers: netavark: No such file or directory (os error 2)"
	h.engine.setStartErr(fmt.Errorf("start: %w: netavark: No such file or directory (os error 2)", errFakeSetup))
	h.start()
	h.until("every service refused at least twice", time.Hour, func() bool {
		for _, s := range h.sup.Services() {
			if s.Detail != why || s.NextRestartAt == nil {
				return false
			}
		}
		return h.engine.ensureCount("web") >= 1 && h.sup.Progress().HostCondition != ""
	})
	h.until("a few more retries", time.Hour, func() bool { return h.clock.Since(h.sup.startedAt) > 5*time.Minute })

	p := h.sup.Progress()
	if p.HostCondition != why {
		t.Errorf("Progress.HostCondition = %q, want %q", p.HostCondition, why)
	}
	if s := p.String(); !strings.Contains(s, why) || !strings.HasPrefix(s, "host condition: ") {
		t.Errorf("status line %q: want it to name the host condition", s)
	}
	for _, s := range h.sup.Services() {
		if s.FailureCount != 0 || s.Status == Disabled || !s.Enabled {
			t.Errorf("%s: failure_count %d, status %s; want no failure counted", s.Name, s.FailureCount, s.Status)
		}
	}
	if got := logs.lines(slog.LevelWarn, "engine cannot start"); len(got) != 1 {
		t.Errorf("%d warnings naming the condition, want 1: %q", len(got), got)
	}
	if got := logs.lines(slog.LevelWarn, "cannot start"); len(got) != 1 {
		t.Errorf("warnings about starts: %q; want the one host line", got)
	}
	if got := logs.lines(slog.LevelDebug, "engine-wide"); len(got) < 4 {
		t.Errorf("%d per-service debug lines, want one per service at least: %q", len(got), got)
	}

	// The host is fixed (iptables installed): the next retries start the
	// stack, and one line says so.
	h.engine.setStartErr(nil)
	h.until("all running", time.Hour, h.allRunning)
	if p := h.sup.Progress(); p.HostCondition != "" {
		t.Errorf("HostCondition = %q after the fix, want none", p.HostCondition)
	}
	h.until("the clear logged", time.Minute, func() bool { return len(logs.lines(slog.LevelInfo, "Host condition cleared")) > 0 })
	if got := logs.lines(slog.LevelInfo, "Host condition"); len(got) != 2 {
		t.Errorf("host condition lines %q, want the warning and the clear", got)
	}
}

// A condition of one service (its image) is not the host's.
func TestImageConditionIsNotAHostCondition(t *testing.T) {
	h := newHarness(t, `
services:
  web: {image: x, healthcheck: {test: 'true', interval: 1s}}
`, Config{})
	h.step = time.Second
	h.engine.setImageErr("web", fmt.Errorf("%w: x: manifest unknown", errFakeImage))
	h.start()
	h.until("refused", time.Hour, func() bool { return h.status("web").NextRestartAt != nil })
	if p := h.sup.Progress(); p.HostCondition != "" {
		t.Errorf("HostCondition = %q for a missing image, want none", p.HostCondition)
	}
}
