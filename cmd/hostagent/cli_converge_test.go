package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostagent/hostagent/api"
	"github.com/hostagent/hostagent/supervisor"
)

// cliControl is the agent's stack commands, faked: it records the calls
// and answers the report it is given.
type cliControl struct {
	mu     sync.Mutex
	calls  []string
	report supervisor.ConvergeReport
	err    error
}

func (c *cliControl) Converge(_ context.Context, wait time.Duration) (supervisor.ConvergeReport, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, fmt.Sprintf("converge %s", wait))
	return c.report, c.err
}

func (c *cliControl) Down(context.Context) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, "down")
	return []string{"postgres"}
}

func (c *cliControl) StopService(_ context.Context, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, "stop "+name)
	return nil
}

func (c *cliControl) StartService(_ context.Context, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, "start "+name)
	return nil
}

func (c *cliControl) Calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

// startControlAgent serves the fake supervisor and ctl on a unix socket;
// the env points the CLI at it and at a valid compose file.
func startControlAgent(t *testing.T, ctl *cliControl) map[string]string {
	t.Helper()
	dir := t.TempDir()
	socket := filepath.Join(dir, "api.sock")
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(cliToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(newCLISup(), api.TokenFile(tokenFile), slog.New(slog.NewTextHandler(io.Discard, nil)),
		api.Options{Socket: socket, Control: ctl})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	file := filepath.Join(dir, "docker-compose.yml")
	if err := os.WriteFile(file, []byte("name: clitest\nservices:\n  web: {image: web:1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "none.yaml")
	if err := os.WriteFile(config, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"ORCHESTRATOR_CONFIG":       config,
		"ORCHESTRATOR_COMPOSE_FILE": file,
		"ORCHESTRATOR_API_SOCKET":   socket,
		"ORCHESTRATOR_API_ADDR":     "127.0.0.1:1",
		"ORCHESTRATOR_TOKEN_FILE":   tokenFile,
	}
}

var convergedReport = supervisor.ConvergeReport{
	ReloadSummary: supervisor.ReloadSummary{Added: []string{"extra"}, Recreated: []string{"web"}, Unchanged: 2},
	Services: []supervisor.ChangedService{
		{Name: "extra", Change: supervisor.ChangeAdded, Status: supervisor.Running, Settled: true, OK: true},
		{Name: "web", Change: supervisor.ChangeRecreated, Status: supervisor.Running, Settled: true, OK: true},
	},
	Complete: true, OK: true,
}

func TestReloadWaitsAndPrintsWhatChanged(t *testing.T) {
	ctl := &cliControl{report: convergedReport}
	env := startControlAgent(t, ctl)
	code, out, errOut := runCLI(t, env, "reload", "--timeout", "2m")
	if code != 0 {
		t.Fatalf("reload: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"1 added, 0 removed, 1 recreated, 2 unchanged", "recreated web", "added     extra"} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("reload output lacks %q:\n%s", want, out)
		}
	}
	if got := ctl.Calls(); len(got) != 1 || got[0] != "converge 2m0s" {
		t.Errorf("calls %v, want one converge waiting 2m0s", got)
	}
}

func TestReloadFailsOnAFailedServiceOrAnAgentError(t *testing.T) {
	failed := convergedReport
	failed.Services = []supervisor.ChangedService{{Name: "web", Change: supervisor.ChangeRecreated, Status: supervisor.Unhealthy, Detail: "health check failed", Settled: true}}
	failed.OK = false
	ctl := &cliControl{report: failed}
	env := startControlAgent(t, ctl)
	code, out, errOut := runCLI(t, env, "reload")
	if code != 1 || !strings.Contains(out, "FAILED: health check failed") || !strings.Contains(errOut, "[web] did not end healthy") {
		t.Errorf("reload with a failed service: exit %d\n%s%s", code, out, errOut)
	}
	ctl.err = fmt.Errorf("%w: x.yml:2:3: bad", api.ErrInvalidFile)
	code, _, errOut = runCLI(t, env, "reload")
	if code != 1 || !strings.Contains(errOut, "422") || !strings.Contains(errOut, "x.yml:2:3") {
		t.Errorf("reload refused by the agent: exit %d %s", code, errOut)
	}
}

func TestReloadOfABrokenFileNeverReachesTheAgent(t *testing.T) {
	ctl := &cliControl{report: convergedReport}
	env := startControlAgent(t, ctl)
	if err := os.WriteFile(env["ORCHESTRATOR_COMPOSE_FILE"], []byte("services:\n  web: {image: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]string{{"reload"}, {"up", "--no-pull"}} {
		code, _, errOut := runCLI(t, env, cmd...)
		if code != 1 || !strings.Contains(errOut, "keeps the running stack") || !strings.Contains(errOut, "docker-compose.yml") {
			t.Errorf("%v on a broken file: exit %d %s", cmd, code, errOut)
		}
	}
	if got := ctl.Calls(); len(got) != 0 {
		t.Errorf("the agent was asked to converge on a broken file: %v", got)
	}
}

func TestReloadFallsBackToSIGHUPWithPid(t *testing.T) {
	ctl := &cliControl{}
	env := startControlAgent(t, ctl)
	env["ORCHESTRATOR_API_SOCKET"] = filepath.Join(t.TempDir(), "gone.sock")
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleeper.Process.Kill() })
	code, out, errOut := runCLI(t, env, "reload", "--pid", fmt.Sprint(sleeper.Process.Pid))
	if code != 0 || !strings.Contains(out, "sent SIGHUP") {
		t.Fatalf("reload --pid with no API: exit %d\n%s%s", code, out, errOut)
	}
	err := sleeper.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !strings.Contains(ee.String(), "hangup") {
		t.Errorf("the process was not sent SIGHUP: %v", err)
	}
	code, _, errOut = runCLI(t, env, "reload")
	if code != 1 || !strings.Contains(errOut, "cannot reach the agent") {
		t.Errorf("reload without --pid and no API: exit %d %s", code, errOut)
	}
}

func TestUpConvergesAndFailsWhenAServiceFails(t *testing.T) {
	ctl := &cliControl{report: convergedReport}
	env := startControlAgent(t, ctl)
	code, out, errOut := runCLI(t, env, "up", "--no-pull", "--timeout", "90s")
	if code != 0 || !strings.Contains(out, "converging clitest") || !strings.Contains(out, "1 recreated") {
		t.Fatalf("up: exit %d\n%s%s", code, out, errOut)
	}
	ctl.report = supervisor.ConvergeReport{ReloadSummary: supervisor.ReloadSummary{Added: []string{"extra"}},
		Services: []supervisor.ChangedService{{Name: "extra", Change: supervisor.ChangeAdded, Status: supervisor.Starting}}}
	code, out, errOut = runCLI(t, env, "up", "--no-pull")
	if code != 1 || !strings.Contains(out, "still starting") || !strings.Contains(errOut, "not settled within 5m0s") {
		t.Errorf("up not settled: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runCLI(t, env, "up", "--no-pull", "nope")
	if code != 2 || !strings.Contains(errOut, "nope") {
		t.Errorf("up with an unknown service: exit %d %s", code, errOut)
	}
	if got := ctl.Calls(); len(got) != 2 || got[0] != "converge 1m30s" {
		t.Errorf("calls %v", got)
	}
}

func TestStopStartThroughTheAgent(t *testing.T) {
	ctl := &cliControl{}
	env := startControlAgent(t, ctl)
	code, out, errOut := runCLI(t, env, "stop", "postgres")
	if code != 0 || !strings.Contains(out, "postgres: "+supervisor.MsgStoppedByUser) {
		t.Fatalf("stop: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ = runCLI(t, env, "start", "postgres"); code != 0 || !strings.Contains(out, supervisor.MsgStartedByUser) {
		t.Errorf("start: exit %d %s", code, out)
	}
	if code, _, _ = runCLI(t, env, "stop", "nope"); code != exitUnknownService {
		t.Errorf("stop nope: exit %d, want %d", code, exitUnknownService)
	}
	if got := ctl.Calls(); fmt.Sprint(got) != "[stop postgres start postgres]" {
		t.Errorf("calls %v", got)
	}
}
