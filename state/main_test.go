package state

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// logSink is a slog.Handler that keeps records for assertions.
type logSink struct {
	mu   sync.Mutex
	recs []slog.Record
}

func newLogSink() (*logSink, *slog.Logger) {
	s := &logSink{}
	return s, slog.New(s)
}

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *logSink) WithAttrs([]slog.Attr) slog.Handler       { return s }
func (s *logSink) WithGroup(string) slog.Handler            { return s }
func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, r.Clone())
	return nil
}

// count reports how many records at level have a message containing substr.
func (s *logSink) count(level slog.Level, substr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.recs {
		if r.Level == level && strings.Contains(r.Message, substr) {
			n++
		}
	}
	return n
}

// attrs returns the value of key in each record whose message contains substr.
func (s *logSink) attrs(substr, key string) []slog.Value {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []slog.Value
	for _, r := range s.recs {
		if !strings.Contains(r.Message, substr) {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				out = append(out, a.Value)
			}
			return true
		})
	}
	return out
}

// eventually polls cond (real time: it waits on other goroutines, not on the
// code's clock) and fails the test after 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// diffRecord lists the fields where got differs from want (times by instant).
func diffRecord(got, want Record) []string {
	var d []string
	add := func(ok bool, name string, g, w any) {
		if !ok {
			d = append(d, name+": got "+fmtAny(g)+", want "+fmtAny(w))
		}
	}
	add(got.Service == want.Service, "Service", got.Service, want.Service)
	add(got.Enabled == want.Enabled, "Enabled", got.Enabled, want.Enabled)
	add(got.FailureCount == want.FailureCount, "FailureCount", got.FailureCount, want.FailureCount)
	add(got.RestartCount == want.RestartCount, "RestartCount", got.RestartCount, want.RestartCount)
	add(got.LastRestartAt.Equal(want.LastRestartAt), "LastRestartAt", got.LastRestartAt, want.LastRestartAt)
	add(got.LastFailureAt.Equal(want.LastFailureAt), "LastFailureAt", got.LastFailureAt, want.LastFailureAt)
	add(got.NextRestartAt.Equal(want.NextRestartAt), "NextRestartAt", got.NextRestartAt, want.NextRestartAt)
	add(got.DisabledReason == want.DisabledReason, "DisabledReason", got.DisabledReason, want.DisabledReason)
	add(got.LearnedVRAM == want.LearnedVRAM, "LearnedVRAM", got.LearnedVRAM, want.LearnedVRAM)
	add(got.ContainerID == want.ContainerID, "ContainerID", got.ContainerID, want.ContainerID)
	add(got.UpdatedAt.Equal(want.UpdatedAt), "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	return d
}

func fmtAny(v any) string {
	if t, ok := v.(time.Time); ok {
		return t.Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%v", v)
}

// wantRecords fails unless got holds exactly want (by service).
func wantRecords(t *testing.T, got map[string]Record, want ...Record) {
	t.Helper()
	if len(got) != len(want) {
		names := make([]string, 0, len(got))
		for k := range got {
			names = append(names, k)
		}
		t.Fatalf("got %d records %v, want %d", len(got), names, len(want))
	}
	for _, w := range want {
		g, ok := got[w.Service]
		if !ok {
			t.Fatalf("record %q missing", w.Service)
		}
		if d := diffRecord(g, w); len(d) > 0 {
			t.Fatalf("record %q differs: %s", w.Service, strings.Join(d, "; "))
		}
	}
}
