package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	// logPath is the current run's log (stdout and stderr).
	logPath string
	// runs counts the launches; running is true until the process is
	// reaped; removed once the stack has been removed.
	runs             int
	running, removed bool
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

// launch removes whatever the project has on the engine, then starts
// `hostagent run` on a.file with the bench's environment (state, API and
// token under a.dir): a fresh bring-up.
func (a *agent) launch(ctx context.Context, pm *podmantest.Service, extraEnv ...string) error {
	token := make([]byte, 16)
	_, _ = rand.Read(token)
	for f, data := range map[string]string{"token": hex.EncodeToString(token), "config.yaml": ""} {
		if err := os.WriteFile(filepath.Join(a.dir, f), []byte(data), 0o600); err != nil {
			return err
		}
	}
	_ = pm.Cleanup(ctx, a.project)
	a.removed = false
	a.env = append(os.Environ(),
		"ORCHESTRATOR_CONFIG="+filepath.Join(a.dir, "config.yaml"),
		"ORCHESTRATOR_COMPOSE_FILE="+a.file,
		"ORCHESTRATOR_DOCKER_HOST="+pm.URL(),
		"ORCHESTRATOR_STATE_DIR="+filepath.Join(a.dir, "state"),
		"ORCHESTRATOR_API_ADDR="+a.addr,
		"ORCHESTRATOR_API_SOCKET="+filepath.Join(a.dir, "api.sock"),
		"ORCHESTRATOR_TOKEN_FILE="+filepath.Join(a.dir, "token"),
		"ORCHESTRATOR_LOG_LEVEL=warn",
	)
	a.env = append(a.env, extraEnv...) // the last of a key wins
	if os.Getenv("BENCH_PROFILE") != "" {
		a.env = append(a.env, "HOSTAGENT_CPUPROFILE="+filepath.Join(a.dir, "cpu.pprof"))
	}
	return a.exec()
}

// relaunch starts `hostagent run` again after terminate, with the same
// environment, on whatever the last run left: the project's containers
// (running or not) and the agent's state directory. It is what a host
// sees on `systemctl start hostagent` after a reboot or an agent restart.
func (a *agent) relaunch() error {
	if a.running {
		return fmt.Errorf("relaunch: the agent still runs")
	}
	return a.exec()
}

// exec starts the binary, logging to a file of its own per launch.
func (a *agent) exec() error {
	a.runs++
	name := "agent.log"
	if a.runs > 1 {
		name = fmt.Sprintf("agent-%d.log", a.runs)
	}
	a.logPath = filepath.Join(a.dir, name)
	a.cmd = exec.Command(a.bin, "run")
	a.cmd.Env = a.env
	logs, err := os.Create(a.logPath)
	if err != nil {
		return err
	}
	a.cmd.Stdout, a.cmd.Stderr = logs, logs
	a.launched = time.Now()
	if err := a.cmd.Start(); err != nil {
		logs.Close()
		return err
	}
	a.running = true
	a.exited = make(chan error, 1)
	go func() { a.exited <- a.cmd.Wait(); logs.Close() }()
	return nil
}

// terminate ends the agent with SIGTERM (SIGKILL after 30 s), leaving the
// stack as the agent leaves it on exit: running.
func (a *agent) terminate() {
	if !a.running {
		return
	}
	a.running = false
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-a.exited:
		if err != nil {
			fmt.Printf("   the agent exited after SIGTERM: %v (log %s)\n", err, a.logPath)
		}
	case <-time.After(30 * time.Second):
		_ = a.cmd.Process.Kill()
	}
}

// stop ends the agent and removes the stack.
func (a *agent) stop(ctx context.Context) {
	a.terminate()
	if !a.removed {
		a.removed = true
		_ = a.pm.Cleanup(ctx, a.project)
	}
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
			return fmt.Errorf("agent exited while waiting for %s: %w (log %s)", what, exitError(err), a.logPath)
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

// exitError is a process's exit as an error, a clean exit included.
func exitError(err error) error {
	if err == nil {
		return errors.New("exit status 0")
	}
	return err
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
	// Fields after the ")" that ends the command name: utime is the 12th,
	// stime the 13th.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields after the command name", pid, len(f))
	}
	ut, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat utime: %w", pid, err)
	}
	st, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat stime: %w", pid, err)
	}
	status, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer status.Close()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			rssKB, err = strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("/proc/%d/status VmRSS: %w", pid, err)
			}
		}
	}
	return ut + st, rssKB, sc.Err()
}
