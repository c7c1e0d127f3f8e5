package engine

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-connections/nat"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
)

func load(t *testing.T, dir, yaml string, profiles ...string) *compose.Stack {
	t.Helper()
	st, err := podmantest.LoadStack(context.Background(), dir, "p", yaml, profiles...)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

const fullService = `
services:
  web:
    image: example/web:1
    command: ["serve", "--port", "8080"]
    entrypoint: ["/init"]
    user: "1000:1000"
    working_dir: /srv
    environment: {B: "2", A: "1", UNSET: null}
    labels: {team: core}
    ports: ["127.0.0.1:18080:8080", "9090/udp"]
    expose: ["7000"]
    volumes:
      - data:/data
      - ./conf:/conf:ro
      - type: tmpfs
        target: /scratch
    restart: always
    stop_grace_period: 20s
    healthcheck: {test: "curl -f localhost:8080/health"}
    deploy:
      resources:
        limits: {cpus: '1.5', memory: 512M, pids: 100}
        reservations: {devices: [{driver: nvidia, count: 1, capabilities: [gpu]}]}
    networks:
      back: {aliases: [www], priority: 10}
      front: {}
  db:
    image: example/db
    network_mode: "service:web"
volumes: {data: {}}
networks: {front: {}, back: {}}
`

func TestBuildSpecLikeCompose(t *testing.T) {
	dir := t.TempDir()
	st := load(t, dir, fullService)
	web, _ := st.Service("web")
	sp, err := buildSpec(st, *web, true)
	if err != nil {
		t.Fatal(err)
	}
	cfg, hc := sp.config, sp.host
	if sp.name != "p-web-1" || cfg.Image != "example/web:1" {
		t.Errorf("name %s image %s", sp.name, cfg.Image)
	}
	for k, v := range map[string]string{LabelProject: "p", LabelService: "web", LabelNumber: "1", LabelOneoff: "False",
		LabelConfigHash: ConfigHash(*web), "team": "core", LabelManaged: "true", LabelWorkingDir: dir} {
		if cfg.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, cfg.Labels[k], v)
		}
	}
	if !slices.Equal(cfg.Env, []string{"A=1", "B=2"}) {
		t.Errorf("env = %v, want sorted, unset left out", cfg.Env)
	}
	if !slices.Equal(cfg.Cmd, []string{"serve", "--port", "8080"}) || !slices.Equal(cfg.Entrypoint, []string{"/init"}) ||
		cfg.User != "1000:1000" || cfg.WorkingDir != "/srv" || *cfg.StopTimeout != 20 {
		t.Errorf("cmd %v entrypoint %v user %s workdir %s stop %d", cfg.Cmd, cfg.Entrypoint, cfg.User, cfg.WorkingDir, *cfg.StopTimeout)
	}
	if !slices.Equal(cfg.Healthcheck.Test, []string{"NONE"}) {
		t.Errorf("engine healthcheck = %v, want NONE (the agent probes)", cfg.Healthcheck.Test)
	}
	if hc.RestartPolicy.Name != container.RestartPolicyDisabled {
		t.Errorf("restart policy %q, want no despite restart: always", hc.RestartPolicy.Name)
	}
	if b := hc.PortBindings["8080/tcp"]; len(b) != 1 || b[0].HostIP != "127.0.0.1" || b[0].HostPort != "18080" {
		t.Errorf("8080 binding = %v", b)
	}
	for _, p := range []string{"8080/tcp", "9090/udp", "7000/tcp"} {
		if _, ok := cfg.ExposedPorts[containerPort(p)]; !ok {
			t.Errorf("%s not exposed: %v", p, cfg.ExposedPorts)
		}
	}
	wantBinds := []string{"p_data:/data", filepath.Join(dir, "conf") + ":/conf:ro"}
	if !slices.Equal(hc.Binds, wantBinds) {
		t.Errorf("binds = %v, want %v", hc.Binds, wantBinds)
	}
	if _, ok := hc.Tmpfs["/scratch"]; !ok {
		t.Errorf("tmpfs = %v", hc.Tmpfs)
	}
	if !slices.Equal(sp.volumes, []string{"data"}) || !slices.Equal(sp.bindDirs, []string{filepath.Join(dir, "conf")}) {
		t.Errorf("volumes %v bindDirs %v", sp.volumes, sp.bindDirs)
	}
	if hc.NanoCPUs != 1_500_000_000 || hc.Memory != 512<<20 || hc.PidsLimit == nil || *hc.PidsLimit != 100 {
		t.Errorf("limits: cpus %d memory %d pids %v", hc.NanoCPUs, hc.Memory, hc.PidsLimit)
	}
	// Podman: CDI names for the libpod endpoint, never compat Devices
	// (which Podman turns into nvidia.com/gpu=0::rwm and fails).
	if !slices.Equal(sp.cdi, []string{"nvidia.com/gpu=0"}) || len(hc.Devices) != 0 || len(hc.DeviceRequests) != 0 {
		t.Errorf("podman GPU = cdi %v devices %v requests %v, want CDI nvidia.com/gpu=0", sp.cdi, hc.Devices, hc.DeviceRequests)
	}
	// Networks: higher priority first, service name plus its aliases.
	if len(sp.networks) != 2 || sp.networks[0].name != "p_back" || sp.networks[1].name != "p_front" {
		t.Fatalf("networks = %+v", sp.networks)
	}
	if !slices.Equal(sp.networks[0].endpoint.Aliases, []string{"web", "www"}) || !slices.Equal(sp.networks[1].endpoint.Aliases, []string{"web"}) {
		t.Errorf("aliases %v %v", sp.networks[0].endpoint.Aliases, sp.networks[1].endpoint.Aliases)
	}
	if hc.NetworkMode != "p_back" {
		t.Errorf("network mode %s", hc.NetworkMode)
	}

	db, _ := st.Service("db")
	sp, err = buildSpec(st, *db, true)
	if err != nil {
		t.Fatal(err)
	}
	if sp.host.NetworkMode != "container:p-web-1" || len(sp.networks) != 0 {
		t.Errorf("network_mode service:web = %s %v", sp.host.NetworkMode, sp.networks)
	}
}

func containerPort(s string) nat.Port { return nat.Port(s) }

func TestGPURequests(t *testing.T) {
	cases := []struct {
		service string // the service's GPU lines
		cdi     []string
		docker  []container.DeviceRequest
	}{
		{"deploy: {resources: {reservations: {devices: [{driver: nvidia, count: 1, capabilities: [gpu]}]}}}",
			[]string{"nvidia.com/gpu=0"}, []container.DeviceRequest{{Driver: "nvidia", Count: 1, Capabilities: [][]string{{"gpu"}}}}},
		{"deploy: {resources: {reservations: {devices: [{driver: nvidia, count: 2, capabilities: [gpu]}]}}}",
			[]string{"nvidia.com/gpu=0", "nvidia.com/gpu=1"}, []container.DeviceRequest{{Driver: "nvidia", Count: 2, Capabilities: [][]string{{"gpu"}}}}},
		{"deploy: {resources: {reservations: {devices: [{driver: nvidia, count: all, capabilities: [gpu]}]}}}",
			[]string{"nvidia.com/gpu=all"}, []container.DeviceRequest{{Driver: "nvidia", Count: -1, Capabilities: [][]string{{"gpu"}}}}},
		{"deploy: {resources: {reservations: {devices: [{capabilities: [gpu], device_ids: ['1', '3']}]}}}",
			[]string{"nvidia.com/gpu=1", "nvidia.com/gpu=3"}, []container.DeviceRequest{{DeviceIDs: []string{"1", "3"}, Capabilities: [][]string{{"gpu"}}}}},
		// The compose spec: neither count nor device_ids means all.
		{"deploy: {resources: {reservations: {devices: [{capabilities: [gpu]}]}}}",
			[]string{"nvidia.com/gpu=all"}, []container.DeviceRequest{{Count: -1, Capabilities: [][]string{{"gpu"}}}}},
		// driver: cdi names devices in full.
		{"deploy: {resources: {reservations: {devices: [{driver: cdi, device_ids: ['nvidia.com/gpu=1'], capabilities: [gpu]}]}}}",
			[]string{"nvidia.com/gpu=1"}, []container.DeviceRequest{{Driver: "cdi", DeviceIDs: []string{"nvidia.com/gpu=1"}, Capabilities: [][]string{{"gpu"}}}}},
		// A bare id under driver cdi is an NVIDIA GPU, as compose reads it;
		// Docker's cdi driver takes full CDI names only.
		{"deploy: {resources: {reservations: {devices: [{driver: cdi, device_ids: ['2'], capabilities: [gpu]}]}}}",
			[]string{"nvidia.com/gpu=2"}, []container.DeviceRequest{{Driver: "cdi", DeviceIDs: []string{"nvidia.com/gpu=2"}, Capabilities: [][]string{{"gpu"}}}}},
		// CDI names in devices: a cdi request on Docker.
		{"devices: ['nvidia.com/gpu=2']",
			[]string{"nvidia.com/gpu=2"}, []container.DeviceRequest{{Driver: "cdi", DeviceIDs: []string{"nvidia.com/gpu=2"}}}},
		// gpus: all / gpus: [{count: 1}]
		{"gpus: all",
			[]string{"nvidia.com/gpu=all"}, []container.DeviceRequest{{Driver: "nvidia", Count: -1, Capabilities: [][]string{{"gpu"}}}}},
		{"gpus: [{count: 1}]",
			[]string{"nvidia.com/gpu=0"}, []container.DeviceRequest{{Driver: "nvidia", Count: 1, Capabilities: [][]string{{"gpu"}}}}},
		{"gpus: [{device_ids: ['2']}]",
			[]string{"nvidia.com/gpu=2"}, []container.DeviceRequest{{Driver: "nvidia", DeviceIDs: []string{"2"}, Capabilities: [][]string{{"gpu"}}}}},
	}
	for _, tc := range cases {
		st := load(t, t.TempDir(), "services:\n  ai:\n    image: x\n    "+tc.service+"\n")
		ai, _ := st.Service("ai")
		sp, err := buildSpec(st, *ai, true)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sp.cdi, tc.cdi) || len(sp.host.Devices) != 0 {
			t.Errorf("%s: CDI devices %v (plain %v), want %v", tc.service, sp.cdi, sp.host.Devices, tc.cdi)
		}
		// One detector: the GPUs the gate serialises are the ones attached.
		if !ai.GPU.Required {
			t.Errorf("%s: compose does not see a GPU", tc.service)
		}
		lanes := ai.GPU.Lanes()
		wantLanes := []string{}
		for _, n := range tc.cdi {
			if id := strings.TrimPrefix(n, "nvidia.com/gpu="); id != "all" {
				wantLanes = append(wantLanes, id)
			}
		}
		if !slices.Equal(lanes, wantLanes) && (len(lanes) != 0 || len(wantLanes) != 0) {
			t.Errorf("%s: gate lanes %v, attached %v", tc.service, lanes, tc.cdi)
		}
		sp, _ = buildSpec(st, *ai, false)
		if !reflect.DeepEqual(sp.host.DeviceRequests, tc.docker) || len(sp.cdi) != 0 || len(sp.host.Devices) != 0 {
			t.Errorf("%s: docker device requests %+v (devices %v), want %+v", tc.service, sp.host.DeviceRequests, sp.host.Devices, tc.docker)
		}
	}
	st := load(t, t.TempDir(), "services:\n  web: {image: x, devices: ['/dev/null:/dev/foo']}\n")
	web, _ := st.Service("web")
	sp, _ := buildSpec(st, *web, true)
	if len(sp.cdi) != 0 || len(sp.host.DeviceRequests) != 0 || len(sp.host.Devices) != 1 || sp.host.Devices[0].PathOnHost != "/dev/null" {
		t.Errorf("no GPU asked, got cdi %v devices %v requests %v", sp.cdi, sp.host.Devices, sp.host.DeviceRequests)
	}
	st = load(t, t.TempDir(), "services:\n  tpu:\n    image: x\n    deploy: {resources: {reservations: {devices: [{capabilities: [tpu], count: 1}]}}}\n")
	tpu, _ := st.Service("tpu")
	for _, podman := range []bool{true, false} {
		sp, _ := buildSpec(st, *tpu, podman)
		if len(sp.cdi) != 0 || len(sp.host.DeviceRequests) != 0 || tpu.GPU.Required {
			t.Errorf("a device request that is not a GPU (podman %v): cdi %v requests %v, gpu %+v", podman, sp.cdi, sp.host.DeviceRequests, tpu.GPU)
		}
	}
}

func TestBuildSpecRejectsWhatItCannotDo(t *testing.T) {
	st := load(t, t.TempDir(), "services:\n  a:\n    image: x\n  b:\n    image: x\n    volumes: [{type: volume, source: v, target: /v, volume: {subpath: sub}}]\nvolumes: {v: {}}\n")
	// compose-go itself rejects an unknown service:, a hand-built Stack may not.
	st.Services[0].Config.NetworkMode = "service:nope"
	for _, name := range []string{"a", "b"} {
		s, _ := st.Service(name)
		if _, err := buildSpec(st, *s, true); err == nil || !strings.Contains(err.Error(), "service "+name) {
			t.Errorf("%s: err = %v, want an error naming the service", name, err)
		}
	}
}

func TestHostPath(t *testing.T) {
	home, _ := os.UserHomeDir()
	cases := map[string]string{
		"./conf":    "/proj/conf",
		"conf/x":    "/proj/conf/x",
		"/abs/path": "/abs/path",
		"~/models":  filepath.Join(home, "models"),
		"~":         home,
	}
	for in, want := range cases {
		if got := hostPath("/proj", in); got != want {
			t.Errorf("hostPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCreateWiresEveryNetwork(t *testing.T) {
	fa := &fakeAPI{missing: true}
	log, _ := newLogRecorder(t)
	c := newClient(fa, Options{Logger: log, Host: "tcp://remote:2375"})
	st := load(t, t.TempDir(), strings.Replace(fullService, "        reservations: {devices: [{driver: nvidia, count: 1, capabilities: [gpu]}]}\n", "", 1))
	id, err := c.Create(t.Context(), st, "web")
	if err != nil {
		t.Fatal(err)
	}
	if id != "id-p-web-1" || len(fa.created) != 1 {
		t.Fatalf("created %v -> %s", fa.created, id)
	}
	eps := fa.created[0].net.EndpointsConfig
	if len(eps) != 1 || eps["p_back"] == nil {
		t.Errorf("create got endpoints %v, want only the first network (API 1.41)", eps)
	}
	if !slices.Equal(fa.connected, []string{"p_front/id-p-web-1"}) {
		t.Errorf("connected %v, want p_front", fa.connected)
	}
	if len(fa.netsMade) != 2 || fa.netsMade[0].Labels[LabelProject] != "p" || fa.netsMade[0].Labels[LabelNetwork] != "back" || fa.netsMade[0].Driver != "bridge" {
		t.Errorf("networks made %+v", fa.netsMade)
	}
	if len(fa.volsMade) != 1 || fa.volsMade[0].Name != "p_data" || fa.volsMade[0].Labels[LabelVolume] != "data" {
		t.Errorf("volumes made %+v", fa.volsMade)
	}
	// Remote engine: bind sources are not made on this host.
	if _, err := os.Stat(filepath.Join(st.WorkingDir, "conf")); err == nil {
		t.Errorf("bind source created for a tcp:// engine")
	}
}
