//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
	"github.com/hostagent/hostagent/internal/testsupport/redistest"
)

func TestMain(m *testing.M) { os.Exit(podmantest.Main(m)) }

// liveAgent is the real hostagent binary running against a private Podman.
type liveAgent struct {
	t       *testing.T
	bin     string
	env     []string
	cmd     *exec.Cmd
	log     *bytes.Buffer
	project string
	pm      *podmantest.Service
}

func buildAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hostagent")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func newLiveAgent(t *testing.T, compose string) *liveAgent {
	pm := podmantest.Shared(t)
	dir := t.TempDir()
	project := fmt.Sprintf("hacli%d", os.Getpid()%100000)
	file := filepath.Join(dir, "docker-compose.yml")
	if err := os.WriteFile(file, []byte("name: "+project+"\n"+compose), 0o644); err != nil {
		t.Fatal(err)
	}
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	port := redistest.FreePort(t)
	a := &liveAgent{t: t, bin: buildAgent(t), project: project, pm: pm, env: append(os.Environ(),
		"ORCHESTRATOR_CONFIG="+config,
		"ORCHESTRATOR_COMPOSE_FILE="+file,
		"ORCHESTRATOR_DOCKER_HOST="+pm.URL(),
		"ORCHESTRATOR_STATE_DIR="+filepath.Join(dir, "state"),
		fmt.Sprintf("ORCHESTRATOR_API_ADDR=127.0.0.1:%d", port),
		"ORCHESTRATOR_API_SOCKET="+filepath.Join(dir, "api.sock"),
		"ORCHESTRATOR_TOKEN_FILE="+token,
		// Not the machine's /etc/hostagent/hostagent.env.
		"HOSTAGENT_ENV_FILE="+filepath.Join(dir, "hostagent.env"),
	)}
	t.Cleanup(func() {
		if t.Failed() && a.cmd != nil {
			if resp, err := http.Get("http://" + a.apiAddr() + "/api/system/services"); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				t.Logf("GET /api/system/services at the failure: %s", b)
			}
		}
		a.stop(syscall.SIGTERM)
		if t.Failed() && a.log != nil {
			t.Logf("the agent's log (its last run):\n%s", lastLines(a.log.String(), 80))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = pm.Cleanup(ctx, project)
	})
	return a
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func (a *liveAgent) start() {
	a.t.Helper()
	a.log = &bytes.Buffer{}
	a.cmd = exec.Command(a.bin, "run")
	a.cmd.Env, a.cmd.Stdout, a.cmd.Stderr = a.env, a.log, a.log
	if err := a.cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
}

func (a *liveAgent) stop(sig syscall.Signal) {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	_ = a.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = a.cmd.Process.Kill()
		<-done
	}
	a.cmd = nil
}

// cli runs a hostagent subcommand against the live agent.
func (a *liveAgent) cli(args ...string) (int, string) {
	a.t.Helper()
	cmd := exec.Command(a.bin, args...)
	cmd.Env = a.env
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		a.t.Fatalf("%v: %v", args, err)
	}
	return 0, string(out)
}

type cliService struct {
	Name         string `json:"name"`
	Status       string `json:"status"`
	RestartCount int    `json:"restart_count"`
	FailureCount int    `json:"failure_count"`
	Enabled      bool   `json:"enabled"`
	ContainerID  string `json:"container_id"`
}

func (a *liveAgent) services() map[string]cliService {
	code, out := a.cli("status", "--json")
	if code != 0 {
		return nil
	}
	var list []cliService
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		var wrapped struct {
			Services []cliService `json:"services"`
		}
		if err := json.Unmarshal([]byte(out), &wrapped); err != nil {
			a.t.Fatalf("status --json: %v\n%s", err, out)
		}
		list = wrapped.Services
	}
	m := map[string]cliService{}
	for _, s := range list {
		m[s.Name] = s
	}
	return m
}

func (a *liveAgent) waitFor(desc string, limit time.Duration, cond func(map[string]cliService) bool) {
	a.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if s := a.services(); s != nil && cond(s) {
			return
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("%s: not within %s\nstatus: %+v\nagent log:\n%s", desc, limit, a.services(), a.log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

const cliStack = `
x-svc: &svc
  image: ` + podmantest.TestsvcImage + `
  healthcheck: {test: ['CMD-SHELL', 'test -f /tmp/healthy'], interval: 1s, timeout: 2s, retries: 2, start_period: 10s}
  x-hostagent: {restart: {backoff_base: 200ms}}
services:
  db: {<<: *svc, environment: {HEALTHY_AFTER: 500ms}}
  api: {<<: *svc, depends_on: {db: {condition: service_healthy}}}
  web: {<<: *svc, depends_on: {api: {condition: service_healthy}}}
`

func allUp(m map[string]cliService) bool {
	for _, n := range []string{"db", "api", "web"} {
		if m[n].Status != "running" {
			return false
		}
	}
	return true
}

func TestCLIAgainstRunningAgentAndSIGKILL(t *testing.T) {
	a := newLiveAgent(t, cliStack)
	a.start()
	a.waitFor("stack running", 90*time.Second, allUp)

	code, out := a.cli("status")
	if code != 0 || !strings.Contains(out, "RUNNING") || !strings.Contains(out, "web") {
		t.Errorf("status: exit %d\n%s", code, out)
	}
	if code, out := a.cli("status", "nope"); code != 3 {
		t.Errorf("status of an unknown service: exit %d, want 3\n%s", code, out)
	}
	wrong := filepath.Join(t.TempDir(), "wrong-token")
	if err := os.WriteFile(wrong, []byte("not-the-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := a.cli("restart", "api", "--token-file", wrong); code != 4 {
		t.Errorf("restart with a wrong token: exit %d, want 4 (unauthorized)\n%s", code, out)
	}
	if code, out := a.cli("restart", "api", "--reset-failures"); code != 0 {
		t.Fatalf("restart api: exit %d\n%s", code, out)
	}
	a.waitFor("api restarted", 30*time.Second, func(m map[string]cliService) bool {
		return m["api"].Status == "running" && m["api"].RestartCount == 1
	})
	if code, out := a.cli("disable", "web"); code != 0 {
		t.Fatalf("disable web: exit %d\n%s", code, out)
	}
	if out, err := a.pm.Podman(t.Context(), "kill", a.project+"-db-1"); err != nil {
		t.Fatalf("podman kill: %v %s", err, out)
	}
	a.waitFor("db restarted", 30*time.Second, func(m map[string]cliService) bool {
		return m["db"].Status == "running" && m["db"].RestartCount == 1 && m["db"].FailureCount == 1
	})
	code, out = a.cli("events", "-n", "50")
	for _, want := range []string{"Manual restart initiated", "Service disabled", "Container stopped", "Service recovered"} {
		if !strings.Contains(out, want) {
			t.Errorf("events (exit %d) lack %q:\n%s", code, want, out)
		}
	}
	before := a.services()

	// SIGKILL: no chance to save anything on the way out.
	a.stop(syscall.SIGKILL)
	a.start()
	a.waitFor("adopted after SIGKILL", 60*time.Second, func(m map[string]cliService) bool {
		return m["db"].Status == "running" && m["api"].Status == "running"
	})
	after := a.services()
	for _, n := range []string{"db", "api", "web"} {
		b, c := before[n], after[n]
		if b.RestartCount != c.RestartCount || b.FailureCount != c.FailureCount || b.Enabled != c.Enabled || b.ContainerID != c.ContainerID {
			t.Errorf("%s before SIGKILL %+v, after restart %+v", n, b, c)
		}
	}
	ids, err := a.pm.Podman(t.Context(), "ps", "-a", "-q", "--filter", "label=com.docker.compose.project="+a.project)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(ids)); n != 3 {
		t.Errorf("%d containers for the project after the agent restart, want 3 (no duplicates)", n)
	}
	if code, out := a.cli("enable", "web"); code != 0 {
		t.Errorf("enable web: exit %d\n%s", code, out)
	}
	a.waitFor("web enabled", 30*time.Second, func(m map[string]cliService) bool { return m["web"].Enabled })
}
