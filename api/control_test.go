package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostagent/hostagent/supervisor"
)

// fakeControl records the stack commands and answers as told.
type fakeControl struct {
	mu       sync.Mutex
	calls    []string
	waits    []time.Duration
	report   supervisor.ConvergeReport
	err      error
	stopErr  error
	released []string
}

func (f *fakeControl) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeControl) Converge(_ context.Context, wait time.Duration) (supervisor.ConvergeReport, error) {
	f.record("converge")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waits = append(f.waits, wait)
	return f.report, f.err
}

func (f *fakeControl) Down(context.Context) []string {
	f.record("down")
	return f.released
}

func (f *fakeControl) StopService(_ context.Context, name string) error {
	f.record("stop " + name)
	return f.stopErr
}

func (f *fakeControl) StartService(_ context.Context, name string) error {
	f.record("start " + name)
	return nil
}

func (f *fakeControl) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func TestReloadAnswersWhatChanged(t *testing.T) {
	ctl := &fakeControl{report: supervisor.ConvergeReport{
		ReloadSummary: supervisor.ReloadSummary{Added: []string{"extra"}, Recreated: []string{"backend"}, Unchanged: 3},
		Services: []supervisor.ChangedService{
			{Name: "extra", Change: supervisor.ChangeAdded, Status: supervisor.Running, Settled: true, OK: true},
			{Name: "backend", Change: supervisor.ChangeRecreated, Status: supervisor.Running, Settled: true, OK: true},
		},
		Complete: true, OK: true,
	}}
	h := newServer(t, newFakeSup(), Options{Control: ctl}).Handler()
	w := do(t, h, "POST", "/api/system/reload?timeout=90s", testToken)
	wantCode(t, w, http.StatusOK)
	b := decode[ReloadBody](t, w.Body.Bytes())
	if !b.OK || !slices.Equal(b.Added, []string{"extra"}) || !slices.Equal(b.Recreated, []string{"backend"}) || b.Unchanged != 3 || len(b.Services) != 2 {
		t.Errorf("body = %+v", b)
	}
	if b.Message != "converged" {
		t.Errorf("message %q", b.Message)
	}
	if !slices.Equal(ctl.waits, []time.Duration{90 * time.Second}) {
		t.Errorf("waits = %v, want [1m30s]", ctl.waits)
	}
	w = do(t, h, "POST", "/api/system/reload", testToken)
	wantCode(t, w, http.StatusOK)
	if ctl.waits[1] != defaultConvergeWait {
		t.Errorf("default wait %s, want %s", ctl.waits[1], defaultConvergeWait)
	}
}

func TestReloadOfABrokenFileIs422(t *testing.T) {
	ctl := &fakeControl{err: fmt.Errorf("%w: docker-compose.yml:3:5: mapping values are not allowed here", ErrInvalidFile)}
	h := newServer(t, newFakeSup(), Options{Control: ctl}).Handler()
	w := do(t, h, "POST", "/api/system/reload", testToken)
	wantCode(t, w, http.StatusUnprocessableEntity)
	msg := decode[map[string]string](t, w.Body.Bytes())["error"]
	if !strings.Contains(msg, "docker-compose.yml:3:5") || !strings.Contains(msg, "keeps the running stack") {
		t.Errorf("error %q: want the file:line:col and that the stack is kept", msg)
	}
	ctl.err = fmt.Errorf("reload: the project name changed")
	wantCode(t, do(t, h, "POST", "/api/system/reload", testToken), http.StatusConflict)
}

func TestReloadNotSettledSaysSo(t *testing.T) {
	ctl := &fakeControl{report: supervisor.ConvergeReport{
		ReloadSummary: supervisor.ReloadSummary{Added: []string{"extra"}},
		Services:      []supervisor.ChangedService{{Name: "extra", Change: supervisor.ChangeAdded, Status: supervisor.Starting}},
	}}
	h := newServer(t, newFakeSup(), Options{Control: ctl}).Handler()
	w := do(t, h, "POST", "/api/system/reload?timeout=5", testToken)
	wantCode(t, w, http.StatusOK)
	b := decode[ReloadBody](t, w.Body.Bytes())
	if b.OK || b.Message != "not settled within 5s" {
		t.Errorf("body = %+v", b)
	}
}

func TestStackCommandsNeedTokenAndValidParams(t *testing.T) {
	ctl := &fakeControl{}
	h := newServer(t, newFakeSup(), Options{Control: ctl}).Handler()
	for _, path := range []string{"/api/system/reload", "/api/system/down", "/api/system/services/redis/stop", "/api/system/services/redis/start"} {
		wantCode(t, do(t, h, "POST", path, ""), http.StatusUnauthorized)
		wantCode(t, do(t, h, "POST", path, "wrong"), http.StatusUnauthorized)
		wantCode(t, do(t, h, "GET", path, testToken), http.StatusMethodNotAllowed)
	}
	for _, q := range []string{"?timeout=-1s", "?timeout=soon", "?timeout=2h", "?wait=1"} {
		wantCode(t, do(t, h, "POST", "/api/system/reload"+q, testToken), http.StatusBadRequest)
	}
	if calls := ctl.Calls(); len(calls) != 0 {
		t.Fatalf("refused calls reached the controller: %v", calls)
	}
	wantCode(t, do(t, newServer(t, newFakeSup(), Options{}).Handler(), "POST", "/api/system/reload", testToken), http.StatusNotImplemented)
}

func TestDownStopStart(t *testing.T) {
	ctl := &fakeControl{released: []string{"postgres", "redis"}}
	h := newServer(t, newFakeSup(), Options{Control: ctl}).Handler()
	w := do(t, h, "POST", "/api/system/down", testToken)
	wantCode(t, w, http.StatusOK)
	if b := decode[DownBody](t, w.Body.Bytes()); !slices.Equal(b.Released, []string{"postgres", "redis"}) {
		t.Errorf("down body %+v", b)
	}
	w = do(t, h, "POST", "/api/system/services/redis/stop", testToken)
	wantCode(t, w, http.StatusOK)
	if b := decode[ActionBody](t, w.Body.Bytes()); b.Action != "stop" || b.Message != supervisor.MsgStoppedByUser || b.Data == nil {
		t.Errorf("stop body %+v", b)
	}
	wantCode(t, do(t, h, "POST", "/api/system/services/redis/start", testToken), http.StatusOK)
	wantCode(t, do(t, h, "POST", "/api/system/services/nope/stop", testToken), http.StatusNotFound)
	ctl.stopErr = fmt.Errorf("wrapped: %w", supervisor.ErrNotSupervised)
	w = do(t, h, "POST", "/api/system/services/redis/stop", testToken)
	wantCode(t, w, http.StatusConflict)
	if !strings.Contains(w.Body.String(), "hostagent up") {
		t.Errorf("409 does not say what to do: %s", w.Body.String())
	}
	want := []string{"down", "stop redis", "start redis", "stop redis"}
	if got := ctl.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
}
