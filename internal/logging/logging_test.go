package logging

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

func TestNewWritesTextOutsideSystemd(t *testing.T) {
	t.Setenv("JOURNAL_STREAM", "")
	var buf bytes.Buffer
	log := New("debug", &buf)
	log.Debug("ContainerOrchestrator started", "services", 3)
	got := buf.String()
	for _, want := range []string{"level=DEBUG", `msg="ContainerOrchestrator started"`, "services=3"} {
		if !strings.Contains(got, want) {
			t.Errorf("text output %q lacks %q", got, want)
		}
	}
}

func TestNewIgnoresJournalStreamOfAnotherFile(t *testing.T) {
	// A JOURNAL_STREAM inherited from a parent service while stderr is a
	// terminal or pipe must not switch to the journal.
	t.Setenv("JOURNAL_STREAM", "1:1")
	var buf bytes.Buffer
	New("info", &buf).Info("hello")
	if !strings.Contains(buf.String(), "msg=hello") {
		t.Errorf("want text output when stderr is not the journal stream, got %q", buf.String())
	}
}

func TestNewFiltersByLevelAndWarnsOnUnknownLevel(t *testing.T) {
	t.Setenv("JOURNAL_STREAM", "")
	var buf bytes.Buffer
	log := New("loud", &buf)
	log.Debug("hidden")
	log.Info("shown")
	got := buf.String()
	if strings.Contains(got, "hidden") || !strings.Contains(got, "shown") {
		t.Errorf("unknown level should mean info; output:\n%s", got)
	}
	if !strings.Contains(got, `msg="unknown log level, using info" level=loud`) {
		t.Errorf("no warning about the unknown level; output:\n%s", got)
	}
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    slog.Level
		wantErr bool
	}{
		{"", slog.LevelInfo, false},
		{"debug", slog.LevelDebug, false},
		{"INFO", slog.LevelInfo, false},
		{"warning", slog.LevelWarn, false},
		{" warn ", slog.LevelWarn, false},
		{"error", slog.LevelError, false},
		{"trace", slog.LevelInfo, true},
	}
	for _, tc := range tests {
		got, err := ParseLevel(tc.in)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

type sent struct {
	msg  string
	pri  journal.Priority
	vars map[string]string
}

type recorder struct {
	got []sent
	err error
}

func (r *recorder) send(msg string, pri journal.Priority, vars map[string]string) error {
	r.got = append(r.got, sent{msg, pri, vars})
	return r.err
}

func (r *recorder) last(t *testing.T) sent {
	t.Helper()
	if len(r.got) == 0 {
		t.Fatal("nothing sent to the journal")
	}
	return r.got[len(r.got)-1]
}

func TestJournalFieldMapping(t *testing.T) {
	rec := &recorder{}
	log := slog.New(newJournalHandler(slog.LevelDebug, rec.send, "hostagent", nil))

	log.With("project", "nemotron").WithGroup("svc").Info("service restarted",
		"name", "ai-llm",
		"restart-count", 2,
		"backoff", 10*time.Second,
		slog.Group("gpu", "index", 0),
		"_private", "x",
		"message", "clash",
		"9lives", true,
		"note", "two words",
	)
	got := rec.last(t)

	if got.pri != journal.PriInfo {
		t.Errorf("PRIORITY = %d, want %d (info)", got.pri, journal.PriInfo)
	}
	wantMsg := `service restarted project=nemotron svc.name=ai-llm svc.restart-count=2 svc.backoff=10s svc.gpu.index=0 svc._private=x svc.message=clash svc.9lives=true svc.note="two words"`
	if got.msg != wantMsg {
		t.Errorf("MESSAGE =\n  %s\nwant\n  %s", got.msg, wantMsg)
	}
	wantVars := map[string]string{
		"PROJECT":           "nemotron",
		"SVC_NAME":          "ai-llm",
		"SVC_RESTART_COUNT": "2",
		"SVC_BACKOFF":       "10s",
		"SVC_GPU_INDEX":     "0",
		"SVC__PRIVATE":      "x",
		"SVC_MESSAGE":       "clash",
		"SVC_9LIVES":        "true",
		"SVC_NOTE":          "two words",
		"SYSLOG_IDENTIFIER": "hostagent",
	}
	for k, v := range wantVars {
		if got.vars[k] != v {
			t.Errorf("field %s = %q, want %q", k, got.vars[k], v)
		}
	}
	if got.vars["CODE_FILE"] == "" || !strings.HasSuffix(got.vars["CODE_FUNC"], "TestJournalFieldMapping") {
		t.Errorf("CODE_FILE/CODE_FUNC not set from the caller: %q %q", got.vars["CODE_FILE"], got.vars["CODE_FUNC"])
	}
}

func TestJournalFieldNames(t *testing.T) {
	tests := map[string]string{
		"service":     "SERVICE",
		"req.method":  "REQ_METHOD",
		"http-status": "HTTP_STATUS",
		"_internal":   "INTERNAL",
		"9lives":      "ATTR_9LIVES",
		"message":     "ATTR_MESSAGE",
		"priority":    "ATTR_PRIORITY",
		"":            "ATTR_",
		"ünïcode":     "N_CODE",
	}
	for in, want := range tests {
		if got := fieldName(in); got != want {
			t.Errorf("fieldName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := fieldName(strings.Repeat("a", 100)); len(got) != 64 {
		t.Errorf("long key gives a %d-byte name, want 64", len(got))
	}
}

func TestJournalPriorities(t *testing.T) {
	tests := []struct {
		level slog.Level
		want  journal.Priority
	}{
		{slog.LevelDebug, journal.PriDebug},
		{slog.LevelInfo, journal.PriInfo},
		{slog.LevelInfo + 2, journal.PriInfo},
		{slog.LevelWarn, journal.PriWarning},
		{slog.LevelError, journal.PriErr},
		{slog.LevelError + 4, journal.PriErr},
	}
	for _, tc := range tests {
		if got := priority(tc.level); got != tc.want {
			t.Errorf("priority(%v) = %d, want %d", tc.level, got, tc.want)
		}
	}
}

func TestJournalHandlerFiltersByLevel(t *testing.T) {
	rec := &recorder{}
	log := slog.New(newJournalHandler(slog.LevelWarn, rec.send, "", nil))
	log.Info("dropped")
	log.Warn("kept")
	if len(rec.got) != 1 || rec.got[0].msg != "kept" || rec.got[0].pri != journal.PriWarning {
		t.Errorf("sent %+v, want only the warning", rec.got)
	}
}

func TestJournalHandlerFallsBackWhenJournalRefuses(t *testing.T) {
	rec := &recorder{err: errors.New("connection refused")}
	var fallback bytes.Buffer
	slog.New(newJournalHandler(slog.LevelInfo, rec.send, "", &fallback)).Error("probe failed", "service", "redis")
	want := `level=ERROR msg="probe failed service=redis"` + "\n"
	if fallback.String() != want {
		t.Errorf("fallback = %q, want %q", fallback.String(), want)
	}
}

func TestJournalWithAttrsDoesNotLeakBetweenLoggers(t *testing.T) {
	rec := &recorder{}
	base := slog.New(newJournalHandler(slog.LevelInfo, rec.send, "", nil))
	a := base.With("service", "a")
	b := base.With("service", "b")
	a.Info("x", "n", 1)
	b.Info("y")
	if rec.got[0].vars["SERVICE"] != "a" || rec.got[1].vars["SERVICE"] != "b" || rec.got[1].vars["N"] != "" {
		t.Errorf("attrs leaked between loggers: %+v", rec.got)
	}
}
