package compose

import (
	"reflect"
	"testing"
	"time"
)

func TestHealthSpecs(t *testing.T) {
	cases := []struct {
		name    string
		service string
		want    HealthSpec
	}{
		{"CMD-SHELL runs in the container", `
    image: postgres
    healthcheck: {test: ['CMD-SHELL', 'pg_isready -U app'], interval: 10s, timeout: 3s, retries: 5, start_period: 20s, start_interval: 2s}`,
			HealthSpec{Method: HealthCommand, Command: []string{"/bin/sh", "-c", "pg_isready -U app"}, Shell: "pg_isready -U app",
				Interval: 10 * time.Second, Timeout: 3 * time.Second, Retries: 5, StartPeriod: 20 * time.Second, StartInterval: 2 * time.Second}},
		{"string form is CMD-SHELL", `
    image: redis
    healthcheck: {test: redis-cli ping}`,
			HealthSpec{Method: HealthCommand, Command: []string{"/bin/sh", "-c", "redis-cli ping"}, Shell: "redis-cli ping",
				Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 3, StartPeriod: 10 * time.Second}},
		{"CMD argv", `
    image: app
    healthcheck: {test: ['CMD', '/bin/check', '--fast']}`,
			HealthSpec{Method: HealthCommand, Command: []string{"/bin/check", "--fast"},
				Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 3, StartPeriod: 30 * time.Second}},
		{"NONE disables", `
    image: app
    healthcheck: {test: ['NONE']}`,
			HealthSpec{Method: HealthNone, Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 3, StartPeriod: 30 * time.Second}},
		{"disable: true", `
    image: app
    healthcheck: {disable: true}`,
			HealthSpec{Method: HealthNone, Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 3, StartPeriod: 30 * time.Second}},
		{"no healthcheck falls back to running status", `
    image: app`,
			HealthSpec{Method: HealthRunning, Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 3, StartPeriod: 30 * time.Second}},
		{"curl against a published port is probed from the host", `
    image: ai
    ports: ['8091:8091']
    healthcheck: {test: ['CMD', 'curl', '-f', 'http://localhost:8091/health'], start_period: 120s}`,
			HealthSpec{Method: HealthHTTP, URL: "http://127.0.0.1:8091/health", Command: []string{"curl", "-f", "http://localhost:8091/health"},
				Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 3, StartPeriod: 120 * time.Second}},
		{"python httpx through a remapped port", `
    image: ai
    ports: ['127.0.0.2:9000:8090']
    healthcheck: {test: ['CMD', 'python', '-c', "import httpx; r = httpx.get('http://localhost:8090/health'); exit(0)"]}`,
			HealthSpec{Method: HealthHTTP, URL: "http://127.0.0.2:9000/health",
				Command:  []string{"python", "-c", "import httpx; r = httpx.get('http://localhost:8090/health'); exit(0)"},
				Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 3, StartPeriod: 30 * time.Second}},
		{"wget without a path", `
    image: web
    ports: ['5173:5173']
    healthcheck: {test: ['CMD', 'wget', '--spider', 'http://localhost:5173']}`,
			HealthSpec{Method: HealthHTTP, URL: "http://127.0.0.1:5173/", Command: []string{"wget", "--spider", "http://localhost:5173"},
				Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 3, StartPeriod: 30 * time.Second}},
		{"HTTP check on an unpublished port stays in the container", `
    image: app
    healthcheck: {test: ['CMD', 'curl', '-f', 'http://localhost:7000/health']}`,
			HealthSpec{Method: HealthCommand, Command: []string{"curl", "-f", "http://localhost:7000/health"},
				Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 3, StartPeriod: 30 * time.Second}},
		{"x-hostagent endpoint on the first published port", `
    image: app
    ports: ['8080:80']
    x-hostagent: {health: {endpoint: healthz}}`,
			HealthSpec{Method: HealthHTTP, URL: "http://127.0.0.1:8080/healthz",
				Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 3, StartPeriod: 30 * time.Second}},
		{"x-hostagent method command overrides the derived HTTP probe", `
    image: ai
    ports: ['8091:8091']
    healthcheck: {test: ['CMD', 'curl', '-f', 'http://localhost:8091/health']}
    x-hostagent: {health: {method: command}}`,
			HealthSpec{Method: HealthCommand, URL: "http://127.0.0.1:8091/health", Command: []string{"curl", "-f", "http://localhost:8091/health"},
				Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 3, StartPeriod: 30 * time.Second}},
		{"label sets the URL", `
    image: app
    labels: {hostagent.health.url: 'http://10.0.0.5:81/ready'}`,
			HealthSpec{Method: HealthHTTP, URL: "http://10.0.0.5:81/ready",
				Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 3, StartPeriod: 30 * time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := loadYAML(t, "services:\n  svc:"+tc.service+"\n")
			s, _ := st.Service("svc")
			if !reflect.DeepEqual(s.Health, tc.want) {
				t.Errorf("health =\n  %+v\nwant\n  %+v", s.Health, tc.want)
			}
		})
	}
}

func TestHealthDefaultsFromSettings(t *testing.T) {
	path := writeCompose(t, "p", "services:\n  a: {image: app}\n")
	st := load(t, Options{Files: []string{path}, Defaults: HealthDefaults{Interval: 7 * time.Second, Timeout: 2 * time.Second}})
	a, _ := st.Service("a")
	if a.Health.Interval != 7*time.Second || a.Health.Timeout != 2*time.Second {
		t.Errorf("health = %+v, want interval 7s timeout 2s", a.Health)
	}
}

func TestCategoriesGPUAndOverrides(t *testing.T) {
	st := loadYAML(t, `
services:
  postgres: {image: postgres:16-alpine}
  cache: {image: docker.io/library/redis:7}
  llm:
    image: my/llm
    deploy: {resources: {reservations: {devices: [{driver: nvidia, count: all, capabilities: [gpu]}]}}}
    x-hostagent: {vram: 14.7GB, startup_time: 90s, restart: {max_failures: 3, backoff_base: 1s, backoff_max: 10s}}
  cdi:
    image: my/vision
    devices: ['nvidia.com/gpu=0']
  backend: {image: my/backend}
  frontend: {image: nginx}
  grafana: {image: grafana/grafana}
  custom:
    image: my/thing
    labels: {hostagent.category: infrastructure, hostagent.phase: '3', hostagent.gpu: 'true', hostagent.vram: 2GiB}
`)
	want := map[string]Category{"postgres": Infrastructure, "cache": Infrastructure, "llm": AI, "cdi": AI,
		"backend": Application, "frontend": Frontend, "grafana": Monitoring, "custom": Infrastructure}
	for name, cat := range want {
		s, _ := st.Service(name)
		if s.Category != cat {
			t.Errorf("%s category = %s, want %s", name, s.Category, cat)
		}
	}
	llm, _ := st.Service("llm")
	if !llm.GPU.Required || llm.GPU.Count != -1 || llm.GPU.VRAMBytes != 15784004812 {
		t.Errorf("llm gpu = %+v", llm.GPU)
	}
	if llm.StartupEstimate != 90*time.Second {
		t.Errorf("llm startup estimate = %s, want 90s", llm.StartupEstimate)
	}
	if llm.Restart != (RestartOverride{MaxFailures: 3, BackoffBase: time.Second, BackoffMax: 10 * time.Second}) {
		t.Errorf("llm restart = %+v", llm.Restart)
	}
	cdi, _ := st.Service("cdi")
	if !cdi.GPU.Required || !reflect.DeepEqual(cdi.GPU.DeviceIDs, []string{"0"}) {
		t.Errorf("cdi gpu = %+v", cdi.GPU)
	}
	custom, _ := st.Service("custom")
	if custom.PhaseOverride != 3 || !custom.GPU.Required || custom.GPU.VRAMBytes != 2<<30 {
		t.Errorf("custom = phase %d gpu %+v", custom.PhaseOverride, custom.GPU)
	}
	backend, _ := st.Service("backend")
	if backend.GPU.Required {
		t.Error("backend has no GPU reservation")
	}
}
