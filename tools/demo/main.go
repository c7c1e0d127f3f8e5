// Command demo is `make demo`: it brings a demo stack shaped like the
// nemotron stack up in phases on a private Podman with the real hostagent
// binary, kills one service to show detection and recovery, prints the
// status table, and tears everything down. It needs root, podman and the images it builds
// itself (no registry).
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
)

//go:embed docker-compose.demo.yml
var demoCompose []byte

const (
	project = "hostagent-demo"
	apiAddr = "127.0.0.1:29740"
	victim  = "ai-llm"
)

type service struct {
	Name         string   `json:"name"`
	Status       string   `json:"status"`
	Phase        int      `json:"phase"`
	RestartCount int      `json:"restart_count"`
	FailureCount int      `json:"failure_count"`
	WaitingFor   []string `json:"waiting_for"`
}

var began = time.Now()

func say(format string, args ...any) {
	fmt.Printf("\033[1m[demo %5.1fs]\033[0m %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
}

func main() {
	bin := flag.String("bin", "bin/hostagent", "the hostagent binary to run")
	keep := flag.Bool("keep", false, "leave the stack running at the end")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *bin, *keep); err != nil {
		fmt.Fprintf(os.Stderr, "demo failed: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, bin string, keep bool) error {
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s: %w (run make build)", bin, err)
	}
	say("starting a private Podman API service and building the demo images (no registry needed)")
	pm, err := podmantest.Start(ctx)
	if err != nil {
		return err
	}
	defer pm.Close()
	if err := pm.EnsureImages(ctx); err != nil {
		return err
	}
	_ = pm.Cleanup(ctx, project)

	dir, err := filepath.Abs(filepath.Join(".build", "demo"))
	if err != nil {
		return err
	}
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	file := filepath.Join(dir, "docker-compose.yml")
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(file, demoCompose, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(token, []byte(randomToken()), 0o600); err != nil {
		return err
	}
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte("# demo: everything comes from the environment\n"), 0o644); err != nil {
		return err
	}
	env := append(os.Environ(),
		"ORCHESTRATOR_CONFIG="+config,
		"ORCHESTRATOR_COMPOSE_FILE="+file,
		"ORCHESTRATOR_DOCKER_HOST="+pm.URL(),
		"ORCHESTRATOR_STATE_DIR="+filepath.Join(dir, "state"),
		"ORCHESTRATOR_API_ADDR="+apiAddr,
		"ORCHESTRATOR_API_SOCKET="+filepath.Join(dir, "api.sock"),
		"ORCHESTRATOR_TOKEN_FILE="+token,
	)
	hostagent := func(args ...string) error {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, os.Stdout, os.Stderr
		return cmd.Run()
	}

	say("the plan hostagent derives from the compose file:")
	if err := hostagent("plan"); err != nil {
		return err
	}

	say("starting the agent: hostagent run (its log lines are prefixed with 'agent |')")
	agent := exec.Command(bin, "run")
	agent.Env = env
	logs, err := agent.StderrPipe()
	if err != nil {
		return err
	}
	agent.Stdout = os.Stdout
	if err := agent.Start(); err != nil {
		return err
	}
	go prefix(logs)
	exited := make(chan error, 1)
	go func() { exited <- agent.Wait() }()
	stopAgent := func() {
		_ = agent.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				say("the agent exited after SIGTERM: %v", err)
			}
		case <-time.After(30 * time.Second):
			_ = agent.Process.Kill()
		}
	}
	defer stopAgent()

	upStart := time.Now()
	if err := waitFor(ctx, exited, 120*time.Second, "the whole stack running", allRunning); err != nil {
		return err
	}
	say("stack up in phases in %.1fs", time.Since(upStart).Seconds())
	if err := hostagent("status"); err != nil {
		return err
	}

	say("self-heal: podman kill %s-%s-1", project, victim)
	killed := time.Now()
	if out, err := pm.Podman(ctx, "kill", project+"-"+victim+"-1"); err != nil {
		return fmt.Errorf("podman kill: %w: %s", err, out)
	}
	if err := waitFor(ctx, exited, 10*time.Second, victim+" detected as down", func(ss []service) bool {
		s, ok := find(ss, victim)
		return ok && s.Status != "running"
	}); err != nil {
		return err
	}
	say("detected within %d ms of the kill command (the agent watches each container's main process)", time.Since(killed).Milliseconds())
	if err := waitFor(ctx, exited, 60*time.Second, victim+" restarted and healthy", func(ss []service) bool {
		s, ok := find(ss, victim)
		return ok && s.Status == "running" && s.RestartCount == 1
	}); err != nil {
		return err
	}
	say("%s restarted and healthy again %.1fs after the kill", victim, time.Since(killed).Seconds())
	if err := hostagent("events", "-n", "8"); err != nil {
		return err
	}
	say("one service in detail: hostagent status %s", victim)
	if err := hostagent("status", victim); err != nil {
		return err
	}
	if err := hostagent("status"); err != nil {
		return err
	}

	say("stopping the agent (SIGTERM): the stack keeps running")
	stopAgent()
	if keep {
		say("--keep: leaving the stack running on %s", pm.URL())
		return nil
	}
	say("hostagent down: stopping the stack in reverse phase order")
	if err := hostagent("down"); err != nil {
		return err
	}
	if err := pm.Cleanup(ctx, project); err != nil {
		return err
	}
	say("done")
	return nil
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func prefix(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fmt.Printf("  agent | %s\n", sc.Text())
	}
}

func find(ss []service, name string) (service, bool) {
	for _, s := range ss {
		if s.Name == name {
			return s, true
		}
	}
	return service{}, false
}

func allRunning(ss []service) bool {
	if len(ss) == 0 {
		return false
	}
	for _, s := range ss {
		if s.Status != "running" {
			return false
		}
	}
	return true
}

// waitFor polls the agent's API until cond holds. A host condition the
// agent reports ends the wait early with its words.
func waitFor(ctx context.Context, exited <-chan error, limit time.Duration, what string, cond func([]service) bool) error {
	deadline := time.Now().Add(limit)
	var last []service
	var host hostWatch
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("the agent exited while waiting for %s: %w", what, err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if ss, hostCond, err := services(ctx); err == nil {
			last = ss
			if cond(ss) {
				return nil
			}
			if err := host.check(time.Now(), hostCond); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %s (last status: %+v)", what, limit, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// services reads the agent's services and the host condition of its
// progress ("" none).
func services(ctx context.Context) ([]service, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+apiAddr+"/api/system/services", nil)
	if err != nil {
		return nil, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("GET /api/system/services: %s", resp.Status)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	var list []service
	if err := json.Unmarshal(data, &list); err == nil {
		return list, "", nil
	}
	var wrapped struct {
		Services []service `json:"services"`
		Progress struct {
			HostCondition string `json:"host_condition"`
		} `json:"progress"`
	}
	if err := json.Unmarshal(data, &wrapped); err != nil {
		return nil, "", err
	}
	if wrapped.Services == nil {
		return nil, "", errors.New("no services in the answer: " + strings.TrimSpace(string(data)))
	}
	return wrapped.Services, wrapped.Progress.HostCondition, nil
}
