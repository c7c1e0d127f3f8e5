//go:build integration

package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
)

func TestMain(m *testing.M) { os.Exit(podmantest.Main(m)) }

// project returns a unique project name and removes its resources after
// the test.
func project(t *testing.T, pm *podmantest.Service) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	name := "hat" + hex.EncodeToString(b)
	t.Cleanup(func() {
		if err := pm.Cleanup(context.Background(), name); err != nil {
			t.Logf("cleanup %s: %v", name, err)
		}
	})
	return name
}

func connect(t *testing.T, pm *podmantest.Service) (*Client, *logRecorder) {
	t.Helper()
	log, rec := newLogRecorder(t)
	c, err := New(Options{Host: pm.URL(), Logger: log, ReconnectMin: 100 * time.Millisecond, ReconnectMax: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	return c, rec
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func podman(t *testing.T, pm *podmantest.Service, args ...string) string {
	t.Helper()
	out, err := pm.Podman(t.Context(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestIntegrationConnectNegotiates(t *testing.T) {
	pm := podmantest.Shared(t)
	c, rec := connect(t, pm)
	if !c.IsPodman() {
		t.Errorf("IsPodman = false against %s", c.Version())
	}
	if !strings.Contains(c.Version(), "API 1.4") {
		t.Errorf("Version = %q, want a negotiated 1.4x API", c.Version())
	}
	if rec.count("Connected to Docker daemon") != 1 {
		t.Errorf("want one 'Connected to Docker daemon' line")
	}
	t.Logf("engine: %s", c.Version())
}

func TestIntegrationConnectRetriesUntilEngineAppears(t *testing.T) {
	log, rec := newLogRecorder(t)
	sock := filepath.Join(t.TempDir(), "none.sock")
	c, err := New(Options{Host: "unix://" + sock, Logger: log, ReconnectMin: 50 * time.Millisecond, CallTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 400*time.Millisecond)
	defer cancel()
	err = c.Connect(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect to a missing socket = %v, want deadline", err)
	}
	if n := rec.count("Failed to connect to Docker daemon"); n < 2 {
		t.Errorf("logged the connection failure line %d times, want one per attempt (>= 2)", n)
	}
	_, err = c.List(t.Context(), "")
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("List without engine = %v, want ErrUnavailable", err)
	}
}

func TestIntegrationDiscoverPreexisting(t *testing.T) {
	pm := podmantest.Shared(t)
	p := project(t, pm)
	c, rec := connect(t, pm)
	run := func(name string, labels ...string) {
		args := []string{"run", "-d", "--name", name}
		for _, l := range labels {
			args = append(args, "--label", l)
		}
		podman(t, pm, append(args, podmantest.BusyboxImage, "sleep", "600")...)
	}
	// By labels, under a name no rule would match.
	run(p+"-odd-name", LabelProject+"="+p, LabelService+"=db")
	// podman-compose's name, no labels.
	run(p + "_cache_1")
	// A name ending in the service: legacy-redis is redis's; the
	// exporter's container is not (it is redis and more).
	run(p + "-legacy-redis-exporter")
	run(p + "-legacy-redis")
	// Another compose project's web is not ours.
	other := p + "x"
	t.Cleanup(func() { _ = pm.Cleanup(context.Background(), other) })
	run(other+"_web_1", LabelProject+"="+other, LabelService+"=web")

	st, err := podmantest.LoadStack(t.Context(), t.TempDir(), p, `
services:
  db: {image: `+podmantest.BusyboxImage+`}
  cache: {image: `+podmantest.BusyboxImage+`}
  redis: {image: `+podmantest.BusyboxImage+`}
  web: {image: `+podmantest.BusyboxImage+`}
  redis-exporter: {image: `+podmantest.BusyboxImage+`, profiles: [monitoring]}
`)
	if err != nil {
		t.Fatal(err)
	}
	// Subscribe first, then discover: the recommended order.
	evs := c.Events(t.Context(), p)
	d, err := c.Discover(t.Context(), st)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		name string
		by   MatchRule
	}{
		"db":    {p + "-odd-name", MatchLabel},
		"cache": {p + "_cache_1", MatchName},
		"redis": {p + "-legacy-redis", MatchContains},
	}
	for svc, w := range want {
		f, ok := d.Found[svc]
		if !ok || f.Container.Name != w.name || f.By != w.by {
			t.Errorf("%s: found %+v (ok %v), want %s by %s", svc, f.Container.Name, ok, w.name, w.by)
		}
	}
	if len(d.Found) != len(want) {
		t.Errorf("found %d services, want %d: %v", len(d.Found), len(want), d.Found)
	}
	if !slices.Equal(d.NotFound, []string{"web"}) {
		t.Errorf("NotFound = %v, want [web]", d.NotFound)
	}
	if rec.count("Discovered 3 containers") != 1 {
		t.Errorf("missing the 'Discovered 3 containers' line")
	}
	// A container adopted by name has no labels, yet its events and
	// listings belong to the project.
	podman(t, pm, "kill", p+"_cache_1")
	e := expect(t, evs, 5*time.Second, func(e Event) bool { return e.Kind == EventDie })
	if e.Service != "cache" || e.Name != p+"_cache_1" {
		t.Errorf("first die event = %+v, want the adopted cache container", e)
	}
	list, err := c.List(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ctr := range list {
		names = append(names, ctr.Service)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"cache", "db", "redis"}) {
		t.Errorf("List(%s) services = %v, want the labelled and the adopted ones", p, names)
	}
}

// stackYAML is three services on two networks: web (testsvc, published
// port, named volume, bind mount, limits), api (testsvc, reached by alias)
// and worker (busybox with a command, env and the shared volume).
func stackYAML(port int) string {
	return fmt.Sprintf(`
services:
  web:
    image: %[1]s
    ports: ["127.0.0.1:%[3]d:8080"]
    environment: {NAME: web}
    volumes: ["data:/data", "./conf:/conf:ro"]
    healthcheck: {test: "test -f /tmp/healthy", interval: 1s}
    restart: unless-stopped
    deploy: {resources: {limits: {cpus: '0.5', memory: 64M}}}
    networks: [front, back]
  api:
    image: %[1]s
    environment: {NAME: api}
    networks: [back]
  worker:
    image: %[2]s
    command: ["sh", "-c", "echo $$GREETING > /data/greeting; exec sleep 600"]
    environment: {GREETING: hello}
    working_dir: /data
    volumes: ["data:/data"]
    networks: [back]
networks: {front: {}, back: {}}
volumes: {data: {}}
`, podmantest.TestsvcImage, podmantest.BusyboxImage, port)
}

func TestIntegrationCreateStack(t *testing.T) {
	pm := podmantest.Shared(t)
	p := project(t, pm)
	c, _ := connect(t, pm)
	ctx := t.Context()
	dir := t.TempDir()
	port := freePort(t)
	st, err := podmantest.LoadStack(ctx, dir, p, stackYAML(port))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]ContainerID{}
	for _, name := range []string{"api", "worker", "web"} {
		id, err := c.Create(ctx, st, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx, id); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		ids[name] = id
	}
	if _, err := c.Create(ctx, st, "web"); !errors.Is(err, ErrConflict) {
		t.Errorf("second Create of web = %v, want ErrConflict", err)
	}

	// What podman and compose tooling see.
	names := podman(t, pm, "ps", "--filter", "label="+LabelProject+"="+p, "--format", "{{.Names}}")
	for _, n := range []string{p + "-web-1", p + "-api-1", p + "-worker-1"} {
		if !strings.Contains(names, n) {
			t.Errorf("podman ps lacks %s: %q", n, names)
		}
	}
	nets := podman(t, pm, "network", "ls", "--filter", "label="+LabelProject+"="+p, "--format", "{{.Name}}")
	if !strings.Contains(nets, p+"_front") || !strings.Contains(nets, p+"_back") {
		t.Errorf("networks = %q, want %s_front and %s_back", nets, p, p)
	}
	if v := podman(t, pm, "volume", "inspect", p+"_data", "--format", `{{index .Labels "`+LabelVolume+`"}}`); v != "data" {
		t.Errorf("volume %s_data label %s = %q", p, LabelVolume, v)
	}
	web, err := c.Inspect(ctx, ids["web"])
	if err != nil {
		t.Fatal(err)
	}
	svc, _ := st.Service("web")
	if web.ConfigHash != ConfigHash(*svc) || web.Service != "web" || web.Project != p || web.Labels[LabelOneoff] != "False" {
		t.Errorf("web labels = %v", web.Labels)
	}
	if web.RestartPolicy != "no" || web.EngineRestarts() {
		t.Errorf("web restart policy %q: the agent owns restarts, want no", web.RestartPolicy)
	}
	if web.State.Health != "" {
		t.Errorf("web has an engine health status %q; engine health checks must be off", web.State.Health)
	}
	if got := podman(t, pm, "inspect", p+"-web-1", "--format", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}"); got != "67108864 500000000" {
		t.Errorf("web memory/cpus = %q, want 67108864 500000000", got)
	}

	// Alias resolution across the back network, env + command + volume,
	// and the bind mount (its missing source was created).
	execOut := func(svc string, argv ...string) (int, string) {
		t.Helper()
		ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		r, err := c.Exec(ectx, ids[svc], argv, ExecOptions{})
		if err != nil {
			t.Fatalf("exec %v in %s: %v", argv, svc, err)
		}
		return r.ExitCode, strings.TrimSpace(string(r.Output))
	}
	if code, out := execOut("worker", "wget", "-qO-", "http://api:8080/"); code != 0 || out != "testsvc api" {
		t.Errorf("worker -> http://api:8080/ = %d %q", code, out)
	}
	waitFor(t, 5*time.Second, func() bool {
		code, out := execOut("web", "cat", "/data/greeting")
		return code == 0 && out == "hello"
	})
	if _, err := os.Stat(filepath.Join(dir, "conf")); err != nil {
		t.Fatalf("bind source not created: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "conf", "app.conf"), []byte("level=debug\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := execOut("web", "cat", "/conf/app.conf"); code != 0 || out != "level=debug" {
		t.Errorf("bind mount read = %d %q", code, out)
	}
	if code, _ := execOut("web", "sh", "-c", "echo x > /conf/new"); code == 0 {
		t.Errorf("write to the :ro bind mount succeeded")
	}

	// Published port on 127.0.0.1.
	url := fmt.Sprintf("http://127.0.0.1:%d/health", port)
	waitFor(t, 5*time.Second, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	// Discovery adopts them by label; a changed definition is outdated.
	d, err := c.Discover(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Found) != 3 || d.Found["web"].By != MatchLabel || d.Found["web"].Outdated {
		t.Errorf("discover after create = %+v", d)
	}
	changed := *svc
	changed.Config.Environment = maps.Clone(changed.Config.Environment)
	v := "changed"
	changed.Config.Environment["NAME"] = &v
	if ConfigHash(changed) == web.ConfigHash {
		t.Errorf("hash ignores an environment change")
	}

	// Stop, inspect, restart, remove.
	if err := c.Stop(ctx, ids["api"], 2*time.Second); err != nil {
		t.Fatal(err)
	}
	api, err := c.Inspect(ctx, ids["api"])
	if err != nil {
		t.Fatal(err)
	}
	if api.State.Running || api.State.Status != StatusExited || api.State.FinishedAt.IsZero() || api.State.StartedAt.IsZero() {
		t.Errorf("api after stop: %+v", api.State)
	}
	if err := c.Restart(ctx, ids["api"], time.Second); err != nil {
		t.Fatal(err)
	}
	api, _ = c.Inspect(ctx, ids["api"])
	if !api.State.Running || api.State.PID == 0 {
		t.Errorf("api after restart: %+v", api.State)
	}
	list, err := c.List(ctx, p)
	if err != nil || len(list) != 3 {
		t.Errorf("List(%s) = %d containers, %v", p, len(list), err)
	}
	if err := c.Remove(ctx, ids["api"], true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Inspect(ctx, ids["api"]); !errors.Is(err, ErrNotFound) {
		t.Errorf("inspect after remove = %v, want ErrNotFound", err)
	}
}

func TestIntegrationExec(t *testing.T) {
	pm := podmantest.Shared(t)
	p := project(t, pm)
	c, _ := connect(t, pm)
	ctx := t.Context()
	id := ContainerID(podman(t, pm, "run", "-d", "--name", p+"-svc-1", podmantest.TestsvcImage))
	shell := func(script string, opts ExecOptions) (ExecResult, error) {
		return c.Exec(ctx, id, []string{"/bin/sh", "-c", script}, opts)
	}
	// The CMD-SHELL check of the stack above, healthy then not.
	waitFor(t, 5*time.Second, func() bool {
		r, err := shell("test -f /tmp/healthy", ExecOptions{})
		return err == nil && r.ExitCode == 0
	})
	if r, err := shell("wget -qO- http://127.0.0.1:8080/fail >/dev/null; test -f /tmp/healthy", ExecOptions{}); err != nil || r.ExitCode != 1 {
		t.Errorf("check after /fail = %+v, %v; want exit 1", r, err)
	}
	if r, err := shell("echo out; echo err >&2; exit 3", ExecOptions{}); err != nil || r.ExitCode != 3 ||
		!strings.Contains(string(r.Output), "out") || !strings.Contains(string(r.Output), "err") {
		t.Errorf("exit 3 = %+v, %v", r, err)
	}
	r, err := shell("yes hostagent | head -c 100000", ExecOptions{MaxOutput: 1000})
	if err != nil || len(r.Output) != 1000 || !r.Truncated || r.ExitCode != 0 {
		t.Errorf("chatty exec: %d bytes, truncated %v, exit %d, %v", len(r.Output), r.Truncated, r.ExitCode, err)
	}
	began := time.Now()
	tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = c.Exec(tctx, id, []string{"/bin/sh", "-c", "sleep 5"}, ExecOptions{})
	cancel()
	if !errors.Is(err, ErrExecTimeout) || time.Since(began) > 2*time.Second {
		t.Errorf("exec past its timeout = %v after %s, want ErrExecTimeout within ~300ms", err, time.Since(began))
	}
	t.Logf("exec timeout returned after %s", time.Since(began).Round(time.Millisecond))
	if _, err := c.Exec(ctx, "no-such-container", []string{"true"}, ExecOptions{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("exec in a missing container = %v, want ErrNotFound", err)
	}
	podman(t, pm, "stop", "-t", "0", string(id))
	if _, err := c.Exec(ctx, id, []string{"true"}, ExecOptions{}); err == nil || errors.Is(err, ErrExecTimeout) {
		t.Errorf("exec in a stopped container = %v, want an error", err)
	}
}

func TestIntegrationDieEventLatency(t *testing.T) {
	pm := podmantest.Shared(t)
	p := project(t, pm)
	c, _ := connect(t, pm)
	ctx := t.Context()
	evs := c.Events(ctx, p)
	name := p + "-victim-1"
	podman(t, pm, "run", "-d", "--name", name, "--label", LabelProject+"="+p, "--label", LabelService+"=victim", podmantest.BusyboxImage, "sleep", "600")
	expect(t, evs, 5*time.Second, func(e Event) bool { return e.Kind == EventStart && e.Name == name })

	var worst time.Duration
	for i := range 3 {
		killed := time.Now()
		podman(t, pm, "kill", name)
		returned := time.Now()
		e := expect(t, evs, 5*time.Second, func(e Event) bool { return e.Kind == EventDie && e.Name == name })
		lat := time.Since(killed)
		worst = max(worst, lat)
		t.Logf("die event %d: %s after `podman kill` started (%s after it returned), exit %d, service %s",
			i+1, lat.Round(time.Millisecond), time.Since(returned).Round(time.Millisecond), e.ExitCode, e.Service)
		if e.ExitCode != 137 || e.Service != "victim" || e.Project != p {
			t.Errorf("die event = %+v, want exit 137 of victim", e)
		}
		podman(t, pm, "start", name)
		expect(t, evs, 5*time.Second, func(e Event) bool { return e.Kind == EventStart && e.Name == name })
	}
	if worst > time.Second {
		t.Errorf("worst die-event latency %s, want under 1s", worst)
	}
}

func TestIntegrationEventsSurviveAPIRestart(t *testing.T) {
	pm := podmantest.Shared(t)
	p := project(t, pm)
	c, rec := connect(t, pm)
	ctx := t.Context()
	evs := c.Events(ctx, p)
	name := p + "-svc-1"
	id := podman(t, pm, "run", "-d", "--name", name, "--label", LabelProject+"="+p, podmantest.BusyboxImage, "sleep", "600")
	expect(t, evs, 5*time.Second, func(e Event) bool { return e.Kind == EventStart && e.Name == name })

	// While the API service is down the container dies; the event must
	// come after the stream is back, marked as replayed, after a resync.
	pm.StopAPI()
	podman(t, pm, "kill", name)
	waitFor(t, 5*time.Second, func() bool { return rec.count("Failed to connect to Docker daemon") > 0 })
	down := time.Now()
	if err := pm.StartAPI(ctx); err != nil {
		t.Fatal(err)
	}
	rs := expect(t, evs, 10*time.Second, func(e Event) bool { return e.Kind == EventResync })
	t.Logf("resync %s after the API service came back", time.Since(down).Round(time.Millisecond))
	if len(rs.Snapshot) != 1 || rs.Snapshot[0].Name != name || rs.Snapshot[0].State.Running {
		t.Errorf("resync snapshot = %+v, want %s, exited", rs.Snapshot, name)
	}
	e := expect(t, evs, 5*time.Second, func(e Event) bool { return e.Kind == EventDie && e.Name == name })
	if !e.Replayed || e.ExitCode != 137 {
		t.Errorf("die during the outage = %+v, want replayed with exit 137", e)
	}
	got, err := c.Inspect(ctx, ContainerID(id))
	if err != nil || got.State.Running {
		t.Fatalf("inspect after restart = %+v, %v", got.State, err)
	}

	// And a plain restart of the API service mid-stream: live events flow.
	if err := pm.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	expect(t, evs, 10*time.Second, func(e Event) bool { return e.Kind == EventResync })
	podman(t, pm, "start", name)
	e = expect(t, evs, 5*time.Second, func(e Event) bool { return e.Kind == EventStart && e.Name == name })
	if e.Replayed {
		t.Errorf("live start after the restart marked replayed")
	}
	if rec.count("Connected to Docker daemon") < 2 {
		t.Errorf("reconnection not logged")
	}
}

// expect reads events until one matches, failing after d. Events that
// do not match are logged.
func expect(t *testing.T, evs <-chan Event, d time.Duration, match func(Event) bool) Event {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case e, ok := <-evs:
			if !ok {
				t.Fatal("event stream closed")
			}
			if match(e) {
				return e
			}
			t.Logf("event (skipped): %s %s %s replayed=%v", e.Kind, e.Name, e.Action, e.Replayed)
		case <-timeout:
			t.Fatalf("no matching event within %s", d)
		}
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
