//go:build integration

package supervisor_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hostagent/hostagent/cmd/hostagent/adapt"
	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/engine"
	"github.com/hostagent/hostagent/internal/pidwatch"
	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
	"github.com/hostagent/hostagent/internal/testsupport/redistest"
	"github.com/hostagent/hostagent/state"
	"github.com/hostagent/hostagent/supervisor"
)

var projectSeq atomic.Int64

// realStack is a typical stack of testsvc containers: data services,
// an "AI" service probed over HTTP from the host, an application and a
// frontend, plus a crash-looping service.
func realStack(port int) string {
	return fmt.Sprintf(`
x-svc: &svc
  image: %[1]s
  healthcheck: {test: ['CMD-SHELL', 'test -f /tmp/healthy'], interval: 1s, timeout: 2s, retries: 2, start_period: 10s}
  x-hostagent: {restart: {backoff_base: 200ms, backoff_max: 2s}}
services:
  db:
    <<: *svc
    environment: {HEALTHY_AFTER: 1s}
  cache:
    <<: *svc
    environment: {HEALTHY_AFTER: 500ms}
  ai:
    image: %[1]s
    environment: {HEALTHY_AFTER: 2s}
    ports: ['127.0.0.1:%[2]d:8080']
    healthcheck: {test: ['CMD', 'curl', '-f', 'http://localhost:8080/health'], interval: 1s, timeout: 2s, retries: 2, start_period: 10s}
    x-hostagent: {category: ai, restart: {backoff_base: 200ms, backoff_max: 2s}}
  api:
    <<: *svc
    environment: {HEALTHY_AFTER: 1s}
    depends_on: {db: {condition: service_healthy}, cache: {condition: service_healthy}, ai: {condition: service_healthy}}
  web:
    <<: *svc
    x-hostagent: {category: frontend, restart: {backoff_base: 200ms}}
    depends_on: {api: {condition: service_healthy}}
  loop:
    image: %[1]s
    environment: {CRASH_AFTER: 300ms}
    healthcheck: {test: ['CMD-SHELL', 'test -f /tmp/healthy'], interval: 1s, retries: 2}
    x-hostagent: {category: monitoring, restart: {max_failures: 3, backoff_base: 100ms, backoff_max: 400ms}}
`, podmantest.TestsvcImage, port)
}

type realRig struct {
	t       *testing.T
	pm      *podmantest.Service
	client  *engine.Client
	stack   *compose.Stack
	plan    *compose.Plan
	project string
}

func newRealRig(t *testing.T, yaml string) *realRig {
	pm := podmantest.Shared(t)
	project := fmt.Sprintf("hasup%d-%d", os.Getpid()%10000, projectSeq.Add(1))
	dir := filepath.Join(t.TempDir(), project)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "docker-compose.yml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := compose.Load(t.Context(), compose.Options{Files: []string{file}, Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := compose.NewPlan(st)
	if err != nil {
		t.Fatal(err)
	}
	c, err := engine.New(engine.Options{Host: pm.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = pm.Cleanup(ctx, project)
		_ = c.Close()
	})
	return &realRig{t: t, pm: pm, client: c, stack: st, plan: plan, project: project}
}

// run starts a supervisor on the rig with the given store and returns it
// with a stop function that waits for it.
func (r *realRig) run(store state.Store) (*supervisor.Supervisor, func()) {
	sup := supervisor.New(r.stack, r.plan, supervisor.Config{StableWindow: time.Hour}, supervisor.Deps{
		Engine: adapt.Engine{C: r.client},
		Probes: adapt.Probers(r.client, 2*time.Second, nil),
		Exits:  pidwatch.New(),
		Store:  store,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { r.stopOnce(cancel, done) }) }
	r.t.Cleanup(stop)
	return sup, stop
}

func (r *realRig) stopOnce(cancel context.CancelFunc, done chan error) {
	{
		cancel()
		select {
		case err := <-done:
			if err != nil {
				r.t.Logf("supervisor returned: %v", err)
			}
		case <-time.After(30 * time.Second):
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			r.t.Errorf("supervisor did not stop within 30s; goroutines:\n%s", buf[:n])
		}
	}
}

func waitReal(t *testing.T, sup *supervisor.Supervisor, desc string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; services: %+v", desc, limit, brief(sup.Services()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func statusOf(sup *supervisor.Supervisor, name string) supervisor.ServiceStatus {
	s, _ := sup.Service(name)
	return s
}

func coreRunning(sup *supervisor.Supervisor) bool {
	for _, s := range sup.Services() {
		if s.Name != "loop" && s.Status != supervisor.Running {
			return false
		}
	}
	return true
}

func fileStore(t *testing.T, dir, project string) state.Store {
	st, err := state.Open(t.Context(), state.Config{Dir: dir, Project: project})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestRealBringUpOrderKillUnhealthyAndCrashLoop(t *testing.T) {
	port := redistest.FreePort(t)
	rig := newRealRig(t, realStack(port))
	sup, _ := rig.run(fileStore(t, t.TempDir(), rig.project))
	began := time.Now()
	waitReal(t, sup, "core stack running", 90*time.Second, func() bool { return coreRunning(sup) })
	t.Logf("bring-up of %d services took %s", len(rig.plan.Services), time.Since(began).Round(time.Millisecond))

	// Every dependency started (and was healthy) before its dependent.
	started := map[string]time.Time{}
	for _, s := range sup.Services() {
		c, err := rig.client.Inspect(t.Context(), engine.ContainerID(fullID(t, rig, s.Name)))
		if err != nil {
			t.Fatalf("inspect %s: %v", s.Name, err)
		}
		started[s.Name] = c.State.StartedAt
	}
	for _, ps := range rig.plan.Services {
		if ps.Name == "loop" {
			continue
		}
		for _, w := range ps.Waits {
			if !started[w.Service].Before(started[ps.Name]) {
				t.Errorf("%s started at %s, not after %s at %s", ps.Name, started[ps.Name].Format(time.StampMilli), w.Service, started[w.Service].Format(time.StampMilli))
			}
		}
	}

	// podman kill → detected, restarted, healthy again with restart_count 1.
	if out, err := rig.pm.Podman(t.Context(), "kill", rig.project+"-api-1"); err != nil {
		t.Fatalf("podman kill: %v %s", err, out)
	}
	killed := time.Now()
	waitReal(t, sup, "api detected as down", 5*time.Second, func() bool { return statusOf(sup, "api").Status != supervisor.Running })
	t.Logf("kill detected after %s", time.Since(killed).Round(time.Millisecond))
	waitReal(t, sup, "api restarted and healthy", 30*time.Second, func() bool {
		s := statusOf(sup, "api")
		return s.Status == supervisor.Running && s.RestartCount == 1
	})

	// ai made unhealthy over HTTP → restarted after `retries` failed checks.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/fail", port))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitReal(t, sup, "ai unhealthy", 10*time.Second, func() bool { return statusOf(sup, "ai").FailureCount == 1 })
	waitReal(t, sup, "ai restarted and healthy", 30*time.Second, func() bool {
		s := statusOf(sup, "ai")
		return s.Status == supervisor.Running && s.RestartCount == 1
	})
	msgs := strings.Join(messagesOf(sup.Events(0), "ai"), " | ")
	for _, want := range []string{"Health check failed", "Restart completed", "Service recovered"} {
		if !strings.Contains(msgs, want) {
			t.Errorf("ai messages %q lack %q", msgs, want)
		}
	}

	// The crash loop ends DISABLED after max failures (3 restarts, then the 4th failure).
	waitReal(t, sup, "loop disabled", 60*time.Second, func() bool { return statusOf(sup, "loop").Status == supervisor.Disabled })
	if s := statusOf(sup, "loop"); s.FailureCount != 4 || s.RestartCount != 3 || s.Enabled {
		t.Errorf("loop = %+v, want 4 failures, 3 restarts, disabled", s)
	}
	if !coreRunning(sup) {
		t.Errorf("a crash-looping monitoring service disturbed the core: %+v", brief(sup.Services()))
	}
}

func fullID(t *testing.T, rig *realRig, service string) string {
	t.Helper()
	d, err := rig.client.Discover(t.Context(), rig.stack)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := d.Found[service]
	if !ok {
		t.Fatalf("no container for %s", service)
	}
	return string(f.Container.ID)
}

func TestRealAgentRestartKeepsCountsFileAndRedis(t *testing.T) {
	for _, kind := range []string{"file", "redis"} {
		t.Run(kind, func(t *testing.T) {
			rig := newRealRig(t, realStack(redistest.FreePort(t)))
			dir := t.TempDir()
			open := func() state.Store { return fileStore(t, dir, rig.project) }
			if kind == "redis" {
				srv := redistest.Start(t)
				open = func() state.Store {
					st, err := state.Open(t.Context(), state.Config{Dir: dir, RedisURL: srv.URL(), Project: rig.project})
					if err != nil {
						t.Fatal(err)
					}
					return st
				}
			}
			store := open()
			sup, stop := rig.run(store)
			waitReal(t, sup, "core running", 90*time.Second, func() bool { return coreRunning(sup) })
			if out, err := rig.pm.Podman(t.Context(), "kill", rig.project+"-cache-1"); err != nil {
				t.Fatalf("podman kill: %v %s", err, out)
			}
			waitReal(t, sup, "cache restarted", 30*time.Second, func() bool {
				s := statusOf(sup, "cache")
				return s.Status == supervisor.Running && s.RestartCount == 1
			})
			if err := sup.Disable(t.Context(), "web"); err != nil {
				t.Fatal(err)
			}
			waitReal(t, sup, "loop disabled", 60*time.Second, func() bool { return statusOf(sup, "loop").Status == supervisor.Disabled })
			before := containerIDs(t, rig)
			stop()
			_ = store.Close()

			store2 := open()
			defer store2.Close()
			sup2, _ := rig.run(store2)
			waitReal(t, sup2, "adopted stack running", 60*time.Second, func() bool {
				for _, s := range sup2.Services() {
					if s.Name != "loop" && s.Name != "web" && s.Status != supervisor.Running {
						return false
					}
				}
				return true
			})
			if s := statusOf(sup2, "cache"); s.RestartCount != 1 || s.FailureCount != 1 {
				t.Errorf("cache after agent restart = %+v, want restart_count 1, failure_count 1", s)
			}
			if s := statusOf(sup2, "web"); s.Enabled || s.Status != supervisor.Disabled {
				t.Errorf("web after agent restart = %+v, want still disabled", s)
			}
			if s := statusOf(sup2, "loop"); s.Enabled || s.FailureCount != 4 {
				t.Errorf("loop after agent restart = %+v, want disabled with 4 failures", s)
			}
			after := containerIDs(t, rig)
			if len(after) != len(before) {
				t.Errorf("containers before %d, after %d: duplicates or losses", len(before), len(after))
			}
			for svc, id := range before {
				if after[svc] != id {
					t.Errorf("%s: container %s replaced by %s on agent restart", svc, id[:12], after[svc])
				}
			}
		})
	}
}

// containerIDs lists the project's containers by service, failing on two
// containers for one service.
func containerIDs(t *testing.T, rig *realRig) map[string]string {
	t.Helper()
	all, err := rig.client.List(t.Context(), rig.project)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range all {
		if prev, dup := out[c.Service]; dup {
			t.Errorf("duplicate containers for %s: %s and %s", c.Service, prev, c.ID)
		}
		out[c.Service] = string(c.ID)
	}
	return out
}

func brief(ss []supervisor.ServiceStatus) []string {
	var out []string
	for _, s := range ss {
		out = append(out, fmt.Sprintf("%s=%s(f%d,r%d%v)", s.Name, s.Status, s.FailureCount, s.RestartCount, s.WaitingFor))
	}
	return out
}

func messagesOf(evs []supervisor.Event, service string) []string {
	var out []string
	for _, e := range evs {
		if e.Data.Name == service {
			out = append(out, e.Message)
		}
	}
	return out
}
