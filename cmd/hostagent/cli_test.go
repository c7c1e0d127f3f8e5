package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostagent/hostagent/api"
	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/supervisor"
)

var cliT0 = time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)

// cliSup is a small hand-written supervisor behind a real api.Server.
type cliSup struct {
	mu     sync.Mutex
	svcs   []supervisor.ServiceStatus
	events []supervisor.Event
	subs   []chan supervisor.Event
	calls  []string
	limit  int
}

func newCLISup() *cliSup {
	next := cliT0.Add(20 * time.Second)
	return &cliSup{svcs: []supervisor.ServiceStatus{
		{Name: "postgres", DisplayName: "PostgreSQL", Category: "infrastructure", Status: supervisor.Running, Enabled: true, Phase: 1, Track: "core", UptimeSeconds: 3725,
			ContainerID: "0123456789ab", Image: "postgres:16-alpine", HealthMethod: "command", LastCheckAt: &cliT0, LastCheckOK: true, LastCheckMS: 12.4,
			Ports: []compose.Port{{HostIP: "127.0.0.1", HostPort: 5432, ContainerPort: 5432, Protocol: "tcp"}}},
		{Name: "ai-llm", DisplayName: "Nemotron", Category: "ai", Status: supervisor.Unhealthy, Enabled: true, Phase: 2, Track: "core", FailureCount: 2, RestartCount: 4, NextRestartAt: &next},
		{Name: "backend", DisplayName: "Backend", Category: "application", Status: supervisor.Starting, Enabled: true, Phase: 3, Track: "core", WaitingFor: []string{"ai-llm (healthy)"}},
		{Name: "grafana", DisplayName: "Grafana", Category: "monitoring", Status: supervisor.Disabled, Enabled: false, Phase: 2, Track: "monitoring"},
	}}
}

func (f *cliSup) Services() []supervisor.ServiceStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]supervisor.ServiceStatus(nil), f.svcs...)
}

func (f *cliSup) Service(name string) (supervisor.ServiceStatus, bool) {
	for _, s := range f.Services() {
		if s.Name == name {
			return s, true
		}
	}
	return supervisor.ServiceStatus{}, false
}

func (f *cliSup) act(name, call, msg string, st supervisor.Status) error {
	if _, ok := f.Service(name); !ok {
		return fmt.Errorf("%w %q", supervisor.ErrUnknownService, name)
	}
	f.mu.Lock()
	f.calls = append(f.calls, call)
	f.mu.Unlock()
	f.publish(name, msg, st)
	return nil
}

func (f *cliSup) Restart(_ context.Context, name string, reset bool) error {
	return f.act(name, fmt.Sprintf("restart %s %v", name, reset), supervisor.MsgManualRestart, supervisor.Starting)
}
func (f *cliSup) Enable(_ context.Context, name string) error {
	return f.act(name, "enable "+name, supervisor.MsgEnabled, supervisor.Stopped)
}
func (f *cliSup) Disable(_ context.Context, name string) error {
	return f.act(name, "disable "+name, supervisor.MsgDisabled, supervisor.Disabled)
}

func (f *cliSup) publish(name, msg string, st supervisor.Status) {
	f.mu.Lock()
	var ev supervisor.Event
	for i := range f.svcs {
		if f.svcs[i].Name == name {
			f.svcs[i].Status = st
			ev = supervisor.Event{Type: supervisor.EventTypeServiceStatus, Data: f.svcs[i], Message: msg,
				Time: cliT0.Add(time.Duration(len(f.events)) * time.Second), Seq: uint64(len(f.events) + 1)}
		}
	}
	f.events = append(f.events, ev)
	subs := append([]chan supervisor.Event(nil), f.subs...)
	f.mu.Unlock()
	for _, c := range subs {
		select {
		case c <- ev:
		default:
		}
	}
}

func (f *cliSup) Events(limit int) []supervisor.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.limit = limit
	return append([]supervisor.Event(nil), f.events[max(0, len(f.events)-limit):]...)
}

func (f *cliSup) Subscribe(buf int) (<-chan supervisor.Event, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := make(chan supervisor.Event, buf)
	f.subs = append(f.subs, c)
	return c, func() {}
}

func (f *cliSup) Progress() supervisor.Progress {
	return supervisor.Progress{Phase: 2, Phases: 3, Running: 1, Total: 4, Waiting: []string{"ai-llm"}}
}

func (f *cliSup) Plan() *compose.Plan { return &compose.Plan{Project: "test"} }

func (f *cliSup) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

type agent struct {
	sup    *cliSup
	srv    *api.Server
	socket string
	tcp    string
	env    map[string]string
}

const cliToken = "cli-test-token"

// startAgent serves the fake over a unix socket and loopback TCP; env
// points the CLI at them, with a readable token file.
func startAgent(t *testing.T) *agent {
	t.Helper()
	dir := t.TempDir()
	a := &agent{sup: newCLISup(), socket: filepath.Join(dir, "api.sock")}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(cliToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(a.sup, api.TokenFile(tokenFile), slog.New(slog.NewTextHandler(io.Discard, nil)),
		api.Options{Addr: "127.0.0.1:0", Socket: a.socket})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	a.srv = srv
	for _, ad := range srv.Addrs() {
		if ta, ok := ad.(*net.TCPAddr); ok {
			a.tcp = ta.String()
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	a.env = map[string]string{
		"ORCHESTRATOR_CONFIG":     filepath.Join(dir, "none.yaml"),
		"ORCHESTRATOR_API_SOCKET": a.socket,
		"ORCHESTRATOR_API_ADDR":   "127.0.0.1:1",
		"ORCHESTRATOR_TOKEN_FILE": tokenFile,
	}
	if err := os.WriteFile(a.env["ORCHESTRATOR_CONFIG"], nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return a
}

func (a *agent) with(kv ...string) map[string]string {
	m := map[string]string{}
	for k, v := range a.env {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func pinNow(t *testing.T) {
	old := cliNow
	cliNow = func() time.Time { return cliT0 }
	t.Cleanup(func() { cliNow = old })
}

func TestStatusTable(t *testing.T) {
	pinNow(t)
	a := startAgent(t)
	code, out, errOut := runCLI(t, a.env, "status")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 || lines[0] != "hostagent: phase 2/3: 1/4 running, waiting for ai-llm" ||
		!regexp.MustCompile(`^SERVICE\s+STATUS\s+PHASE\s+RESTARTS\s+FAILURES\s+UPTIME\s+DETAIL$`).MatchString(lines[1]) {
		t.Fatalf("status output:\n%s", out)
	}
	for _, want := range []string{
		`^postgres\s+RUNNING\s+1\s+0\s+0\s+1h02m\s*$`,
		`^ai-llm\s+UNHEALTHY\s+2\s+4\s+2\s+-\s+restart in 20s$`,
		`^backend\s+STARTING\s+3\s+0\s+0\s+-\s+waiting for ai-llm \(healthy\)$`,
		`^grafana\s+DISABLED\s+m2\s+0\s+0\s+-\s+auto-restart disabled$`,
	} {
		if !regexp.MustCompile(`(?m)` + want).MatchString(out) {
			t.Errorf("no line matching %s in:\n%s", want, out)
		}
	}
	// What the e2e test looks for.
	if !regexp.MustCompile(`(?im)^.*\bpostgres\b.*\brunning\b`).MatchString(out) {
		t.Errorf("e2e pattern fails on:\n%s", out)
	}

	code, out, _ = runCLI(t, a.env, "status", "backend", "postgres")
	if code != 0 || !strings.Contains(out, "backend") || strings.Contains(out, "grafana") {
		t.Errorf("status NAME: exit %d\n%s", code, out)
	}
	if code, _, errOut := runCLI(t, a.env, "status", "nope"); code != 3 || !strings.Contains(errOut, `unknown service "nope"`) {
		t.Errorf("status nope: exit %d, %s", code, errOut)
	}
}

func TestStatusJSON(t *testing.T) {
	a := startAgent(t)
	code, out, errOut := runCLI(t, a.env, "status", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var body api.ServicesBody
	if err := json.Unmarshal([]byte(out), &body); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if body.Total != 4 || body.Services[1].Name != "ai-llm" || body.Services[1].Status != supervisor.Unhealthy || body.Progress.Phase != 2 {
		t.Errorf("--json body %+v", body)
	}
}

func TestControlCommands(t *testing.T) {
	a := startAgent(t)
	code, out, errOut := runCLI(t, a.env, "restart", "ai-llm", "--reset-failures")
	if code != 0 || strings.TrimSpace(out) != "ai-llm: Manual restart initiated (failure count reset) — now STARTING" {
		t.Fatalf("restart: exit %d %q %s", code, out, errOut)
	}
	if code, out, _ = runCLI(t, a.env, "disable", "grafana"); code != 0 || !strings.Contains(out, "grafana: Service disabled") {
		t.Errorf("disable: %d %q", code, out)
	}
	if code, out, _ = runCLI(t, a.env, "enable", "grafana", "backend"); code != 0 || strings.Count(out, "Service enabled") != 2 {
		t.Errorf("enable: %d %q", code, out)
	}
	want := []string{"restart ai-llm true", "disable grafana", "enable grafana", "enable backend"}
	if got := a.sup.Calls(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("calls %q, want %q", got, want)
	}

	code, out, errOut = runCLI(t, a.env, "events", "-n", "3")
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(out, "backend") || !strings.Contains(out, "Service enabled") || a.sup.limit != 3 {
		t.Errorf("events -n 3: exit %d (limit %d)\n%s%s", code, a.sup.limit, out, errOut)
	}
	code, out, _ = runCLI(t, a.env, "events", "ai-llm")
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, "Manual restart initiated") {
		t.Errorf("events ai-llm: %d\n%s", code, out)
	}
}

func TestCLIExitCodes(t *testing.T) {
	a := startAgent(t)
	cases := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"unknown service restart", a.env, []string{"restart", "nope"}, 3, `unknown service "nope"`},
		{"unknown service enable", a.env, []string{"enable", "nope"}, 3, `unknown service "nope"`},
		{"unknown service events", a.env, []string{"events", "nope"}, 3, `unknown service "nope"`},
		{"wrong token", a.with("ORCHESTRATOR_TOKEN_FILE", writeTemp(t, "wrong")), []string{"restart", "ai-llm"}, 4, "refused the token"},
		{"unreadable token", a.with("ORCHESTRATOR_TOKEN_FILE", "/nonexistent/token"), []string{"disable", "ai-llm"}, 4, "run as root, or pass --token-file"},
		{"token flag", a.with("ORCHESTRATOR_TOKEN_FILE", "/nonexistent/token"), []string{"restart", "--token-file", a.env["ORCHESTRATOR_TOKEN_FILE"], "ai-llm"}, 0, ""},
		{"unreachable", map[string]string{"ORCHESTRATOR_CONFIG": a.env["ORCHESTRATOR_CONFIG"], "ORCHESTRATOR_API_SOCKET": "/nonexistent/api.sock", "ORCHESTRATOR_API_ADDR": "127.0.0.1:1"},
			[]string{"status"}, 1, "cannot reach the agent at 127.0.0.1:1"},
		{"no name", a.env, []string{"restart"}, 2, "NAME is required"},
		{"bad -n", a.env, []string{"events", "-n", "0"}, 2, "want 1 to 500"},
		{"bad flag", a.env, []string{"status", "--bogus"}, 2, ""},
		{"bad --api", a.env, []string{"status", "--api", "ftp://x"}, 2, "only http://"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, tc.env, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", code, tc.code, errOut, tc.want)
			}
			if tc.name == "unreachable" && !strings.Contains(errOut, "systemctl status hostagent") {
				t.Errorf("no systemctl hint: %s", errOut)
			}
		})
	}
}

func writeTemp(t *testing.T, content string) string {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAPIAddressChoice(t *testing.T) {
	a := startAgent(t)
	// --api wins over the environment (TCP, as an http:// URL).
	env := a.with("ORCHESTRATOR_API_SOCKET", "/nonexistent/api.sock")
	if code, _, errOut := runCLI(t, env, "status", "--api", "http://"+a.tcp); code != 0 {
		t.Errorf("--api http://: %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, env, "status", "--api", "unix:"+a.socket); code != 0 {
		t.Errorf("--api unix: %d %s", code, errOut)
	}
	// A socket nobody serves falls back to the TCP address.
	stale := filepath.Join(t.TempDir(), "stale.sock")
	l, _ := net.Listen("unix", stale)
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if code, _, errOut := runCLI(t, a.with("ORCHESTRATOR_API_SOCKET", stale, "ORCHESTRATOR_API_ADDR", a.tcp), "status"); code != 0 {
		t.Errorf("stale socket, TCP fallback: %d %s", code, errOut)
	}
	// An httptest server in front of the handler.
	ts := httptest.NewServer(a.srv.Handler())
	defer ts.Close()
	if code, out, errOut := runCLI(t, env, "status", "--api", ts.URL); code != 0 || !strings.Contains(out, "ai-llm") {
		t.Errorf("httptest --api: %d %s", code, errOut)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, buf *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output never contained %q:\n%s", want, buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStatusWatch(t *testing.T) {
	a := startAgent(t)
	var out, errOut syncBuffer
	env := &environment{stdout: &out, stderr: &errOut, getenv: func(k string) string { return a.env[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() { code <- dispatch(ctx, env, []string{"status", "--watch"}) }()
	waitFor(t, &out, "SERVICE")
	a.sup.publish("ai-llm", supervisor.MsgRecovered, supervisor.Running)
	waitFor(t, &out, "Service recovered")
	if !regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d  ai-llm\s+RUNNING\s+Service recovered  \(restarts 4, failures 2\)$`).MatchString(out.String()) {
		t.Errorf("event line:\n%s", out.String())
	}
	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("--watch exit %d: %s", c, errOut.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("--watch did not stop on interrupt")
	}
}

func TestStatusWide(t *testing.T) {
	pinNow(t)
	a := startAgent(t)
	code, out, errOut := runCLI(t, a.env, "status", "--wide")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		`(?m)^SERVICE\s+STATUS\s+PHASE\s+CONTAINER\s+IMAGE\s+PORTS\s+HEALTH\s+RESTARTS\s+FAILURES\s+UPTIME\s+DETAIL$`,
		`(?m)^postgres\s+RUNNING\s+1\s+0123456789ab\s+postgres:16-alpine\s+127\.0\.0\.1:5432->5432/tcp\s+command ok 12ms\s+0\s+0\s+1h02m\s*$`,
		`(?m)^grafana\s+DISABLED\s+m2\s+-\s+`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("no line matching %s in:\n%s", want, out)
		}
	}
}

// A listener squatting the agent's TCP port while the agent is down never
// receives the token: the CLI sends it only over the unix socket (or to an
// address named with --api).
func TestTokenNeverSentToTheDefaultTCPPort(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	squatter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"unauthorized"}`))
	}))
	defer squatter.Close()
	token := writeTemp(t, "s3cret-token\n")
	addr := strings.TrimPrefix(squatter.URL, "http://")
	stale := filepath.Join(t.TempDir(), "stale.sock")
	l, _ := net.Listen("unix", stale)
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	for name, sock := range map[string]string{"socket missing": "/nonexistent/api.sock", "socket stale": stale} {
		env := map[string]string{
			"ORCHESTRATOR_CONFIG":     writeTemp(t, ""),
			"ORCHESTRATOR_API_SOCKET": sock,
			"ORCHESTRATOR_API_ADDR":   addr,
			"ORCHESTRATOR_TOKEN_FILE": token,
		}
		code, _, errOut := runCLI(t, env, "restart", "postgres")
		if code != exitUnauthorized || !strings.Contains(errOut, "not sent over TCP") {
			t.Errorf("%s: exit %d, stderr %q; want 4 and why the token was withheld", name, code, errOut)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("the squatter saw no request at all")
	}
	for _, h := range seen {
		if h != "" {
			t.Errorf("the squatter received Authorization %q", h)
		}
	}
}
