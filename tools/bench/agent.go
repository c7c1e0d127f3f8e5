package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
)

// agent is the real hostagent binary running one stack on the private
// Podman, reached over its REST API.
type agent struct {
	bin, dir, file, project, addr string
	env                           []string
	cmd                           *exec.Cmd
	exited                        chan error
	pm                            *podmantest.Service
	// launched is when the command was started: the user's clock.
	launched time.Time
	stopped  bool
}

// startAgent launches `hostagent run` on the stack; extraEnv entries
// override the defaults (ORCHESTRATOR_LOG_LEVEL=info ...).
func startAgent(ctx context.Context, bin string, pm *podmantest.Service, name, compose string, port int, extraEnv ...string) (*agent, error) {
	dir, err := filepath.Abs(filepath.Join(".build", "bench", name))
	if err != nil {
		return nil, err
	}
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	a := &agent{bin: bin, dir: dir, project: "hab-" + name, addr: fmt.Sprintf("127.0.0.1:%d", port), pm: pm}
	a.file = filepath.Join(dir, "docker-compose.yml")
	if err := os.WriteFile(a.file, []byte("name: "+a.project+"\n"+compose), 0o644); err != nil {
		return nil, err
	}
	return a, a.launch(ctx, pm, extraEnv...)
}

// launch starts `hostagent run` on a.file with the bench's environment
// (state, API and token under a.dir).
func (a *agent) launch(ctx context.Context, pm *podmantest.Service, extraEnv ...string) error {
	dir, bin := a.dir, a.bin
	token := make([]byte, 16)
	_, _ = rand.Read(token)
	for f, data := range map[string]string{"token": hex.EncodeToString(token), "config.yaml": ""} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(data), 0o600); err != nil {
			return err
		}
	}
	_ = pm.Cleanup(ctx, a.project)
	a.env = append(os.Environ(),
		"ORCHESTRATOR_CONFIG="+filepath.Join(dir, "config.yaml"),
		"ORCHESTRATOR_COMPOSE_FILE="+a.file,
		"ORCHESTRATOR_DOCKER_HOST="+pm.URL(),
		"ORCHESTRATOR_STATE_DIR="+filepath.Join(dir, "state"),
		"ORCHESTRATOR_API_ADDR="+a.addr,
		"ORCHESTRATOR_API_SOCKET="+filepath.Join(dir, "api.sock"),
		"ORCHESTRATOR_TOKEN_FILE="+filepath.Join(dir, "token"),
		"ORCHESTRATOR_LOG_LEVEL=warn",
	)
	a.env = append(a.env, extraEnv...) // the last of a key wins
	if os.Getenv("BENCH_PROFILE") != "" {
		a.env = append(a.env, "HOSTAGENT_CPUPROFILE="+filepath.Join(dir, "cpu.pprof"))
	}
	a.cmd = exec.Command(bin, "run")
	a.cmd.Env = a.env
	logs, err := os.Create(filepath.Join(dir, "agent.log"))
	if err != nil {
		return err
	}
	a.cmd.Stdout, a.cmd.Stderr = logs, logs
	a.launched = time.Now()
	if err := a.cmd.Start(); err != nil {
		return err
	}
	a.exited = make(chan error, 1)
	go func() { a.exited <- a.cmd.Wait(); logs.Close() }()
	return nil
}

// stop ends the agent and removes the stack.
func (a *agent) stop(ctx context.Context) {
	if a.stopped {
		return
	}
	a.stopped = true
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(30 * time.Second):
		_ = a.cmd.Process.Kill()
	}
	_ = a.pm.Cleanup(ctx, a.project)
}

type service struct {
	Name         string     `json:"name"`
	Status       string     `json:"status"`
	RestartCount int        `json:"restart_count"`
	ContainerID  string     `json:"container_id"`
	StartedAt    *time.Time `json:"started_at"`
}

type event struct {
	Message string    `json:"message"`
	Time    time.Time `json:"timestamp"`
	Seq     uint64    `json:"seq"`
	Data    service   `json:"data"`
}

func (a *agent) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(data)))
	}
	return json.Unmarshal(data, out)
}

func (a *agent) services(ctx context.Context) ([]service, error) {
	var body struct {
		Services []service `json:"services"`
	}
	err := a.get(ctx, "/api/system/services", &body)
	return body.Services, err
}

func (a *agent) events(ctx context.Context) ([]event, error) {
	var body struct {
		Events []event `json:"events"`
	}
	err := a.get(ctx, "/api/system/health/events?limit=500", &body)
	return body.Events, err
}

// waitAll polls until cond holds for the services, or fails after limit.
func (a *agent) waitAll(ctx context.Context, limit time.Duration, what string, cond func([]service) bool) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case err := <-a.exited:
			return fmt.Errorf("agent exited while waiting for %s: %v (log %s)", what, err, filepath.Join(a.dir, "agent.log"))
		default:
		}
		if ss, err := a.services(ctx); err == nil && cond(ss) {
			return nil
		}
		if time.Now().After(deadline) {
			ss, _ := a.services(ctx)
			return fmt.Errorf("%s: not within %s: %+v", what, limit, ss)
		}
		time.Sleep(20 * time.Millisecond)
	}
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

// procStat reads a process's CPU ticks and resident memory.
func procStat(pid int) (ticks uint64, rssKB uint64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the ")" that ends the command name: utime is the 12th.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	var ut, st uint64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	status, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer status.Close()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &rssKB)
		}
	}
	return ut + st, rssKB, nil
}
