package probes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/engine"
	"github.com/hostagent/hostagent/internal/clock"
)

// fakeEngine answers Exec and Inspect from fields.
type fakeEngine struct {
	exec    engine.ExecResult
	execErr error
	argv    []string
	opts    engine.ExecOptions
	// left is how long the exec had before its context's deadline.
	left   time.Duration
	ctr    engine.Container
	ctrErr error
	block  bool // ignore the context and hang
	hang   bool // hang until the context ends, then return its error (as engine.Exec does)
}

func (f *fakeEngine) Exec(ctx context.Context, _ engine.ContainerID, argv []string, opts engine.ExecOptions) (engine.ExecResult, error) {
	f.argv, f.opts = argv, opts
	if d, ok := ctx.Deadline(); ok {
		f.left = time.Until(d)
	}
	if f.block {
		select {}
	}
	if f.hang {
		<-ctx.Done()
		return engine.ExecResult{}, fmt.Errorf("exec in c1: %w", ctx.Err())
	}
	return f.exec, f.execErr
}

func (f *fakeEngine) Inspect(ctx context.Context, _ engine.ContainerID) (engine.Container, error) {
	if f.block {
		select {}
	}
	return f.ctr, f.ctrErr
}

func TestCommandClassification(t *testing.T) {
	cases := []struct {
		name   string
		exec   engine.ExecResult
		err    error
		want   Outcome
		detail string
	}{
		{"exit 0", engine.ExecResult{ExitCode: 0}, nil, Success, ""},
		{"exit 1 with output", engine.ExecResult{ExitCode: 1, Output: []byte("no marker\n")}, nil, Failure, "exit 1: no marker"},
		{"not found is 127", engine.ExecResult{ExitCode: 127}, nil, Failure, "exit 127"},
		{"exec timeout counts", engine.ExecResult{}, fmt.Errorf("x: %w", engine.ErrExecTimeout), Failure, "no exit within 2s"},
		{"container gone", engine.ExecResult{}, fmt.Errorf("x: %w", engine.ErrNotFound), Error, ""},
		{"not running", engine.ExecResult{}, fmt.Errorf("x: %w", engine.ErrConflict), Error, ""},
		{"engine down", engine.ExecResult{}, fmt.Errorf("x: %w", engine.ErrUnavailable), Error, ""},
		{"exec create failed", engine.ExecResult{}, errors.New("must provide at least one stream"), Error, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeEngine{exec: tc.exec, execErr: tc.err}
			p, err := ForSpec(compose.HealthSpec{Method: compose.HealthCommand, Command: []string{"/bin/sh", "-c", "test -f /tmp/healthy"}, Timeout: 2 * time.Second}, f, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			r := p.Probe(t.Context(), "c1")
			if r.Outcome != tc.want || r.Detail != tc.detail || r.Method != compose.HealthCommand {
				t.Errorf("got %s (detail %q), want %s (detail %q)", r, r.Detail, tc.want, tc.detail)
			}
			if (tc.err != nil) != (r.Err != nil) {
				t.Errorf("Err = %v, want the exec error %v kept", r.Err, tc.err)
			}
			if f.left <= time.Second || f.left > 2*time.Second || f.argv[0] != "/bin/sh" {
				t.Errorf("exec got %s to its deadline, argv %v; want the check's 2s", f.left, f.argv)
			}
		})
	}
}

func TestRunningClassification(t *testing.T) {
	state := func(st engine.State) engine.Container { return engine.Container{State: st} }
	cases := []struct {
		name   string
		ctr    engine.Container
		err    error
		want   Outcome
		detail string
	}{
		{"running", state(engine.State{Status: engine.StatusRunning, Running: true}), nil, Success, "running"},
		{"exited", state(engine.State{Status: engine.StatusExited, ExitCode: 137, OOMKilled: true}), nil, Failure, "container exited (code 137), OOM killed"},
		{"restarting", state(engine.State{Status: engine.StatusRestarting, Running: true}), nil, Failure, "container restarting"},
		{"created", state(engine.State{Status: engine.StatusCreated}), nil, Failure, "container created"},
		{"gone", engine.Container{}, fmt.Errorf("x: %w", engine.ErrNotFound), Error, ""},
		{"engine down", engine.Container{}, fmt.Errorf("x: %w", engine.ErrUnavailable), Error, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := ForSpec(compose.HealthSpec{Method: compose.HealthRunning}, &fakeEngine{ctr: tc.ctr, ctrErr: tc.err}, time.Second, nil)
			r := p.Probe(t.Context(), "c1")
			if r.Outcome != tc.want || r.Detail != tc.detail {
				t.Errorf("got %s, want %s %q", r, tc.want, tc.detail)
			}
		})
	}
}

func TestHTTPClassification(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "fine") })
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "model not loaded")
	})
	mux.HandleFunc("/created", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	closed := closedPort(t)

	cases := []struct {
		url    string
		want   Outcome
		detail string
	}{
		{srv.URL + "/ok", Success, "HTTP 200"},
		{srv.URL + "/down", Failure, "HTTP 503: model not loaded"},
		// Only 200 is healthy: other 2xx and redirects are not.
		{srv.URL + "/created", Failure, "HTTP 204"},
		{srv.URL + "/moved", Failure, "HTTP 302: <a href=\"/ok\">Found</a>."},
		{srv.URL + "/slow", Failure, "no answer within 200ms"},
		{"http://" + closed + "/health", Error, ""},
		{"http://[::1]:bad/health", Error, ""},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			p, err := ForSpec(compose.HealthSpec{Method: compose.HealthHTTP, URL: tc.url, Timeout: 200 * time.Millisecond}, nil, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			began := time.Now()
			r := p.Probe(t.Context(), "")
			if r.Outcome != tc.want || r.Detail != tc.detail {
				t.Errorf("got %s (detail %q), want %s %q", r, r.Detail, tc.want, tc.detail)
			}
			if took := time.Since(began); took > time.Second {
				t.Errorf("probe took %s with a 200ms timeout", took)
			}
			if r.Outcome != Error && r.Latency <= 0 {
				t.Errorf("latency not measured: %s", r.Latency)
			}
		})
	}
}

// closedPort is a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

type panicky struct{}

func (panicky) Probe(context.Context, engine.ContainerID) Result { panic("boom") }

func TestGuardRecoversPanics(t *testing.T) {
	r := Guard(panicky{}, time.Second, compose.HealthCommand, nil).Probe(t.Context(), "c1")
	if r.Outcome != Error || r.Err == nil || !strings.Contains(r.Err.Error(), "boom") {
		t.Errorf("panicking probe = %s", r)
	}
}

func TestGuardAbandonsHungMechanism(t *testing.T) {
	p, _ := ForSpec(compose.HealthSpec{Method: compose.HealthCommand, Command: []string{"true"}, Timeout: 50 * time.Millisecond}, &fakeEngine{block: true}, 0, nil)
	began := time.Now()
	r := p.Probe(t.Context(), "c1")
	took := time.Since(began)
	if r.Outcome != Error || !errors.Is(r.Err, context.DeadlineExceeded) {
		t.Errorf("hung probe = %s, want an Error", r)
	}
	// 50ms timeout + 250ms grace.
	if took < 250*time.Millisecond || took > 2*time.Second {
		t.Errorf("hung probe returned after %s, want about 300ms", took)
	}
}

// A caller giving up ends the wait too: a hung mechanism is abandoned an
// overrun after the cancel, not after the check's full timeout.
func TestGuardAbandonsHungMechanismOnCancel(t *testing.T) {
	p, _ := ForSpec(compose.HealthSpec{Method: compose.HealthCommand, Command: []string{"true"}, Timeout: 4 * time.Second}, &fakeEngine{block: true}, 0, nil)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	began := time.Now()
	r := p.Probe(ctx, "c1")
	if r.Outcome != Error || !errors.Is(r.Err, context.Canceled) {
		t.Errorf("hung probe, caller cancelled = %s, want an Error", r)
	}
	// 50ms to the cancel + the 1s overrun of a 4s check.
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("returned after %s, want about 1.05s", took)
	}
}

func TestForSpec(t *testing.T) {
	f := &fakeEngine{ctr: engine.Container{State: engine.State{Status: engine.StatusRunning, Running: true}}}
	if _, err := ForSpec(compose.HealthSpec{Method: compose.HealthHTTP}, f, 0, nil); err == nil {
		t.Error("http without URL accepted")
	}
	if _, err := ForSpec(compose.HealthSpec{Method: compose.HealthCommand}, f, 0, nil); err == nil {
		t.Error("command without argv accepted")
	}
	if _, err := ForSpec(compose.HealthSpec{Method: "tcp"}, f, 0, nil); err == nil {
		t.Error("unknown method accepted")
	}
	// test: NONE still watches the container.
	p, err := ForSpec(compose.HealthSpec{Method: compose.HealthNone}, f, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := p.Probe(t.Context(), "c1"); r.Outcome != Success || r.Method != compose.HealthRunning {
		t.Errorf("none = %s, want the running probe", r)
	}
}

func TestLatencyUsesInjectedClock(t *testing.T) {
	fc := clock.NewFake(time.Unix(0, 0))
	slowExec := execFunc(func() (engine.ExecResult, error) {
		fc.Advance(1500 * time.Millisecond)
		return engine.ExecResult{ExitCode: 0}, nil
	})
	r := NewCommand(slowExec, []string{"true"}, 5*time.Second, fc).Probe(t.Context(), "c1")
	if r.Latency != 1500*time.Millisecond || r.Outcome != Success {
		t.Errorf("latency = %s (%s), want 1.5s from the fake clock", r.Latency, r.Outcome)
	}
}

type execFunc func() (engine.ExecResult, error)

func (f execFunc) Exec(context.Context, engine.ContainerID, []string, engine.ExecOptions) (engine.ExecResult, error) {
	return f()
}

// A check that hangs past its timeout is a failed check, whether the
// caller set no deadline (the Guard's is the one) or one equal to the
// check's timeout: before, the latter was an "error" and never counted, so
// the service stayed STARTING for ever.
func TestCommandHangingPastTimeoutFails(t *testing.T) {
	const timeout = 100 * time.Millisecond
	p, err := ForSpec(compose.HealthSpec{Method: compose.HealthCommand, Command: []string{"sleep", "60"}, Timeout: timeout}, &fakeEngine{hang: true}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, caller := range map[string]func() (context.Context, context.CancelFunc){
		"no caller deadline": func() (context.Context, context.CancelFunc) { return context.WithCancel(t.Context()) },
		"caller deadline":    func() (context.Context, context.CancelFunc) { return context.WithTimeout(t.Context(), timeout) },
	} {
		ctx, cancel := caller()
		r := p.Probe(ctx, "c1")
		cancel()
		if r.Outcome != Failure || !strings.Contains(r.Detail, "no exit within") {
			t.Errorf("%s: got %s (detail %q, err %v), want a failure: no exit within %s", name, r, r.Detail, r.Err, timeout)
		}
	}
}

// The engine's verdict on an exec past its deadline (ErrExecTimeout) is a
// failed check.
func TestCommandExecTimeoutFails(t *testing.T) {
	ex := execCtxFunc(func(ctx context.Context) (engine.ExecResult, error) {
		<-ctx.Done()
		return engine.ExecResult{}, fmt.Errorf("exec %q in c1: %w after 100ms", "sleep", engine.ErrExecTimeout)
	})
	p := Guard(NewCommand(ex, []string{"sleep", "60"}, 100*time.Millisecond, nil), 100*time.Millisecond, compose.HealthCommand, nil)
	if r := p.Probe(t.Context(), "c1"); r.Outcome != Failure || r.Detail != "no exit within 100ms" || !errors.Is(r.Err, engine.ErrExecTimeout) {
		t.Errorf("got %s, want a failure: no exit within 100ms", r)
	}
}

type execCtxFunc func(ctx context.Context) (engine.ExecResult, error)

func (f execCtxFunc) Exec(ctx context.Context, _ engine.ContainerID, _ []string, _ engine.ExecOptions) (engine.ExecResult, error) {
	return f(ctx)
}

// An HTTP check that cannot connect is an Error as a probe and a failed
// check as health counts it; the engine's errors stay errors.
func TestCountedHTTPRefusedIsAFailure(t *testing.T) {
	p, err := ForSpec(compose.HealthSpec{Method: compose.HealthHTTP, URL: "http://" + closedPort(t) + "/health", Timeout: time.Second}, nil, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := p.Probe(t.Context(), "")
	if r.Outcome != Error {
		t.Fatalf("closed port = %s, want an error", r)
	}
	c := r.Counted()
	if c.Outcome != Failure || c.Detail != "no answer: "+r.String() || c.Latency != r.Latency || c.Err == nil {
		t.Errorf("counted = %s (detail %q), want a failure: no answer: %s", c, c.Detail, r)
	}
	for _, r := range []Result{
		{Outcome: Error, Method: compose.HealthCommand, Err: fmt.Errorf("x: %w", engine.ErrConflict)},
		{Outcome: Error, Method: compose.HealthRunning, Err: fmt.Errorf("x: %w", engine.ErrNotFound)},
		{Outcome: Failure, Method: compose.HealthHTTP, Detail: "HTTP 503"},
		{Outcome: Success, Method: compose.HealthHTTP, Detail: "HTTP 200"},
	} {
		if c := r.Counted(); c.Outcome != r.Outcome || c.Detail != r.Detail {
			t.Errorf("%s counted as %s", r, c)
		}
	}
}
