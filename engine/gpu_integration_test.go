//go:build integration

package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
)

// testCDISpec defines nvidia.com/gpu devices whose only edit is an
// environment variable: seeing it inside proves the device was attached,
// on a host without a GPU.
const testCDISpec = `cdiVersion: "0.5.0"
kind: nvidia.com/gpu
devices:
- name: "0"
  containerEdits: {env: [HOSTAGENT_TEST_GPU=0]}
- name: "1"
  containerEdits: {env: [HOSTAGENT_TEST_GPU=1]}
- name: all
  containerEdits: {env: [HOSTAGENT_TEST_GPU=all]}
`

// writeTestCDI puts the test spec where Podman reads CDI specs and removes
// it after the test.
func writeTestCDI(t *testing.T) {
	t.Helper()
	podmantest.WriteCDISpec(t, "hostagent-test", testCDISpec)
}

// gpuStackYAML has an AI service shaped like nemotron's ai-llm (deploy
// reservation driver nvidia count 1, a read-only model bind, a port, the
// project network), a client on the same network, and a service pinned to
// a GPU no spec defines.
func gpuStackYAML(port int) string {
	return fmt.Sprintf(`
services:
  ai-llm:
    image: %[1]s
    ports: ["127.0.0.1:%[3]d:8080"]
    volumes: ["./models:/models:ro", "cache:/cache"]
    environment: {NAME: ai-llm}
    labels: {team: ai}
    restart: unless-stopped
    stop_grace_period: 7s
    shm_size: 64m
    networks: [security-net]
    deploy:
      resources:
        limits: {cpus: '0.5', memory: 64M}
        reservations:
          devices:
            - driver: nvidia
              count: 1
              capabilities: [gpu]
  ai-second:
    image: %[2]s
    command: ["sleep", "600"]
    networks: [security-net]
    deploy: {resources: {reservations: {devices: [{driver: nvidia, device_ids: ['1'], capabilities: [gpu]}]}}}
  client:
    image: %[2]s
    command: ["sleep", "600"]
    networks: [security-net]
  ai-pinned:
    image: %[2]s
    command: ["sleep", "600"]
    networks: [security-net]
    deploy: {resources: {reservations: {devices: [{driver: nvidia, device_ids: ['7'], capabilities: [gpu]}]}}}
networks: {security-net: {}}
volumes: {cache: {}}
`, podmantest.TestsvcImage, podmantest.BusyboxImage, port)
}

func TestIntegrationGPUServiceAttachesCDI(t *testing.T) {
	pm := podmantest.Shared(t)
	writeTestCDI(t)
	p := project(t, pm)
	c, _ := connect(t, pm)
	ctx := t.Context()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "models"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "models", "model.gguf"), []byte("weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	st, err := podmantest.LoadStack(ctx, dir, p, gpuStackYAML(port))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]ContainerID{}
	for _, name := range []string{"ai-llm", "ai-second", "client"} {
		id, err := c.Create(ctx, st, name)
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		if err := c.Start(ctx, id); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		ids[name] = id
	}
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

	// The CDI edits reached the container's process: the devices were
	// attached. (Podman 4 injects CDI edits into the runtime spec at start,
	// so they are in PID 1's environment, not in what exec inherits.)
	env := func(svc string) string {
		_, out := execOut(svc, "cat", "/proc/1/environ")
		return strings.ReplaceAll(out, "\x00", "\n")
	}
	if out := env("ai-llm"); !strings.Contains(out, "HOSTAGENT_TEST_GPU=0\n") {
		t.Errorf("ai-llm env lacks HOSTAGENT_TEST_GPU=0 (CDI device not attached):\n%s", out)
	}
	if out := env("ai-second"); !strings.Contains(out, "HOSTAGENT_TEST_GPU=1\n") {
		t.Errorf("ai-second env lacks HOSTAGENT_TEST_GPU=1:\n%s", out)
	}
	if out := env("client"); strings.Contains(out, "HOSTAGENT_TEST_GPU") {
		t.Errorf("client got a GPU it did not ask for:\n%s", out)
	}

	// Everything else a compat-created container has still holds.
	llm, err := c.Inspect(ctx, ids["ai-llm"])
	if err != nil {
		t.Fatal(err)
	}
	svc, _ := st.Service("ai-llm")
	if llm.Service != "ai-llm" || llm.Project != p || llm.ConfigHash != ConfigHash(*svc) || llm.Labels["team"] != "ai" {
		t.Errorf("ai-llm labels = %v", llm.Labels)
	}
	if llm.RestartPolicy != "no" || llm.EngineRestarts() {
		t.Errorf("ai-llm restart policy %q, want no (the agent owns restarts)", llm.RestartPolicy)
	}
	if llm.State.Health != "" {
		t.Errorf("ai-llm has an engine health status %q; engine health checks must be off", llm.State.Health)
	}
	if got := podman(t, pm, "inspect", p+"-ai-llm-1", "--format", "{{.HostConfig.Memory}} {{.HostConfig.CpuQuota}}/{{.HostConfig.CpuPeriod}} {{.HostConfig.ShmSize}} {{.Config.StopTimeout}}"); got != "67108864 50000/100000 67108864 7" {
		t.Errorf("ai-llm memory cpu shm stop-timeout = %q, want 67108864 50000/100000 67108864 7", got)
	}
	if code, out := execOut("client", "wget", "-qO-", "http://ai-llm:8080/"); code != 0 || out != "testsvc ai-llm" {
		t.Errorf("client -> http://ai-llm:8080/ = %d %q (service name alias on the project network)", code, out)
	}
	if code, out := execOut("ai-llm", "cat", "/models/model.gguf"); code != 0 || out != "weights" {
		t.Errorf("model bind read = %d %q", code, out)
	}
	if code, _ := execOut("ai-llm", "sh", "-c", "echo x > /models/new"); code == 0 {
		t.Errorf("write to the :ro model bind succeeded")
	}
	if code, _ := execOut("ai-llm", "sh", "-c", "echo x > /cache/f && cat /cache/f"); code != 0 {
		t.Errorf("named volume /cache not writable")
	}
	if v := podman(t, pm, "inspect", p+"-ai-llm-1", "--format", `{{range .Mounts}}{{if eq .Destination "/cache"}}{{.Name}}{{end}}{{end}}`); v != p+"_cache" {
		t.Errorf("/cache is volume %q, want %s_cache", v, p)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	waitFor(t, 5*time.Second, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b)) == "testsvc ai-llm"
	})
	d, err := c.Discover(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if f := d.Found["ai-llm"]; f.By != MatchLabel || f.Outdated || f.Container.ID != ids["ai-llm"] {
		t.Errorf("discover ai-llm = %+v", f)
	}

	// A GPU no CDI spec defines: the condition naming the fix, before
	// anything is created.
	_, err = c.Create(ctx, st, "ai-pinned")
	if !errors.Is(err, ErrGPUUnavailable) || !IsCondition(err) {
		t.Fatalf("create ai-pinned (GPU 7) = %v, want ErrGPUUnavailable", err)
	}
	for _, w := range []string{"ai-pinned", "nvidia.com/gpu=7", cdiFix} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %q", err, w)
		}
	}
	if names := podman(t, pm, "ps", "-a", "--format", "{{.Names}}"); strings.Contains(names, p+"-ai-pinned-1") {
		t.Errorf("a container was made for ai-pinned: %q", names)
	}

	// Without the local check (a remote engine), Podman accepts the create
	// and refuses the start; that refusal maps to the same condition.
	c.local = false
	id, err := c.Create(ctx, st, "ai-pinned")
	if err != nil {
		t.Fatalf("remote create ai-pinned: %v", err)
	}
	err = c.Start(ctx, id)
	if !errors.Is(err, ErrGPUUnavailable) || !strings.Contains(err.Error(), cdiFix) || !strings.Contains(err.Error(), "unresolvable CDI devices") {
		t.Errorf("start of ai-pinned = %v, want Podman's refusal as ErrGPUUnavailable", err)
	}

	// A GPU container an older agent made through the compat API (CDI name
	// in HostConfig.Devices): Podman cannot start it; the error says to
	// remove it so that it is made again.
	r, err := c.api.ContainerCreate(ctx, &container.Config{Image: podmantest.BusyboxImage, Cmd: []string{"sleep", "600"}},
		&container.HostConfig{Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: "nvidia.com/gpu=0", CgroupPermissions: "rwm"}}}},
		nil, nil, p+"-old-gpu-1")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Start(ctx, ContainerID(r.ID))
	if !errors.Is(err, ErrGPUUnavailable) || !strings.Contains(err.Error(), "podman rm "+ContainerID(r.ID).Short()) {
		t.Errorf("start of a compat-made GPU container = %v, want ErrGPUUnavailable saying to remove it", err)
	}
}
