package engine

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestLibpodSpecFromFullService checks the translation field by field, on
// the JSON libpod reads (key names from Podman 4.3's SpecGenerator).
func TestLibpodSpecFromFullService(t *testing.T) {
	dir := t.TempDir()
	st := load(t, dir, fullService)
	web, _ := st.Service("web")
	sp, err := buildSpec(st, *web, true)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := libpodCreateSpec(sp)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(ls)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"name":                              `"p-web-1"`,
		"image":                             `"example/web:1"`,
		"command":                           `["serve","--port","8080"]`,
		"entrypoint":                        `["/init"]`,
		"env":                               `{"A":"1","B":"2"}`,
		"user":                              `"1000:1000"`,
		"work_dir":                          `"/srv"`,
		"restart_policy":                    `"no"`,
		"stop_timeout":                      `20`,
		"healthconfig":                      `{"Test":["NONE"]}`,
		"devices":                           `[{"path":"nvidia.com/gpu=0"}]`,
		"netns":                             `{"nsmode":"bridge"}`,
		"Networks":                          `{"p_back":{"aliases":["web","www"]},"p_front":{"aliases":["web"]}}`,
		"portmappings":                      `[{"host_ip":"127.0.0.1","container_port":8080,"host_port":18080,"protocol":"tcp"},{"container_port":9090,"protocol":"udp"}]`,
		"expose":                            `{"7000":"tcp"}`,
		"volumes":                           `[{"Name":"p_data","Dest":"/data"}]`,
		"mounts":                            `[{"destination":"/conf","type":"bind","source":"` + filepath.Join(dir, "conf") + `","options":["ro"]},{"destination":"/scratch","type":"tmpfs","source":"tmpfs"}]`,
		"resource_limits":                   `{"memory":{"limit":536870912},"cpu":{"quota":150000,"period":100000},"pids":{"limit":100}}`,
		"labels.team":                       `"core"`,
		"labels.com.docker.compose.service": `"web"`,
		"labels.com.docker.compose.project": `"p"`,
	}
	for key, w := range want {
		var v any
		if k, ok := strings.CutPrefix(key, "labels."); ok {
			v = got["labels"].(map[string]any)[k]
		} else {
			v = got[key]
		}
		b, _ := json.Marshal(v)
		var wv any
		if err := json.Unmarshal([]byte(w), &wv); err != nil {
			t.Fatalf("%s: bad want %s", key, w)
		}
		if !reflect.DeepEqual(v, wv) {
			t.Errorf("%s = %s, want %s", key, b, w)
		}
	}
}

func TestLibpodMountOptionsAndNamespaces(t *testing.T) {
	dir := t.TempDir()
	st := load(t, dir, `
services:
  ai:
    image: x
    volumes: ["/srv/models:/models:ro,z"]
    stop_signal: SIGINT
    shm_size: 1g
    ipc: host
    security_opt: ["no-new-privileges:true", "label=disable"]
    ulimits: {nofile: {soft: 1024, hard: 2048}}
    extra_hosts: ["gw:10.0.0.1"]
    dns: [1.1.1.1]
    devices: ["nvidia.com/gpu=all", "/dev/null:/dev/nul2:r"]
`)
	ai, _ := st.Service("ai")
	sp, err := buildSpec(st, *ai, true)
	if err != nil {
		t.Fatal(err)
	}
	// Another option the compose model carries (U) must pass through as given.
	sp.host.Binds = append(sp.host.Binds, "/srv/data:/data:U,Z")
	ls, err := libpodCreateSpec(sp)
	if err != nil {
		t.Fatal(err)
	}
	wantMounts := []libpodMount{
		{Destination: "/models", Type: "bind", Source: "/srv/models", Options: []string{"ro", "z"}},
		{Destination: "/data", Type: "bind", Source: "/srv/data", Options: []string{"U", "Z"}},
	}
	if !reflect.DeepEqual(ls.Mounts, wantMounts) {
		t.Errorf("mounts %+v, want %+v", ls.Mounts, wantMounts)
	}
	if ls.StopSignal == nil || *ls.StopSignal != 2 {
		t.Errorf("stop signal %v, want 2 (SIGINT)", ls.StopSignal)
	}
	if ls.ShmSize == nil || *ls.ShmSize != 1<<30 || ls.IpcNS == nil || ls.IpcNS.Mode != "host" {
		t.Errorf("shm %v ipc %+v", ls.ShmSize, ls.IpcNS)
	}
	if !ls.NoNewPrivs || !slices.Equal(ls.SelinuxOpts, []string{"disable"}) {
		t.Errorf("security: nnp %v selinux %v", ls.NoNewPrivs, ls.SelinuxOpts)
	}
	if !reflect.DeepEqual(ls.Rlimits, []libpodRlimit{{Type: "nofile", Soft: 1024, Hard: 2048}}) {
		t.Errorf("rlimits %+v", ls.Rlimits)
	}
	if !slices.Equal(ls.HostAdd, []string{"gw:10.0.0.1"}) || !slices.Equal(ls.DNSServers, []string{"1.1.1.1"}) {
		t.Errorf("hostadd %v dns %v", ls.HostAdd, ls.DNSServers)
	}
	wantDev := []libpodDevice{{Path: "nvidia.com/gpu=all"}, {Path: "/dev/null:/dev/nul2:r"}}
	if !reflect.DeepEqual(ls.Devices, wantDev) {
		t.Errorf("devices %+v, want %+v", ls.Devices, wantDev)
	}

	sp.config.Domainname = "example.org"
	if _, err := libpodCreateSpec(sp); err == nil || !strings.Contains(err.Error(), "domainname") {
		t.Errorf("domainname: err %v, want it named as unsupported", err)
	}
}

func TestSignalNumber(t *testing.T) {
	for in, want := range map[string]int{"SIGTERM": 15, "term": 15, "SIGKILL": 9, "10": 10} {
		if got, err := signalNumber(in); err != nil || got != want {
			t.Errorf("%s = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := signalNumber("SIGNOPE"); err == nil {
		t.Error("SIGNOPE accepted")
	}
}

func writeCDISpec(t *testing.T, dir, file, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, file), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCheckCDI(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(t.TempDir(), "absent")
	writeCDISpec(t, dir, "nvidia.yaml", "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: \"0\"\n  containerEdits: {env: [A=1]}\n- name: all\n  containerEdits: {env: [A=1]}\n")
	writeCDISpec(t, dir, "other.json", `{"cdiVersion":"0.5.0","kind":"vendor.com/fpga","devices":[{"name":"x","containerEdits":{}}]}`)
	writeCDISpec(t, dir, "broken.yaml", ":\n- [")
	dirs := []string{dir, other}
	if err := checkCDI("ai-llm", []string{"nvidia.com/gpu=0", "nvidia.com/gpu=all", "vendor.com/fpga=x"}, dirs); err != nil {
		t.Errorf("defined devices: %v", err)
	}
	err := checkCDI("ai-llm", []string{"nvidia.com/gpu=0", "nvidia.com/gpu=7"}, dirs)
	if !errors.Is(err, ErrGPUUnavailable) || !IsCondition(err) {
		t.Fatalf("missing device: err %v, want ErrGPUUnavailable", err)
	}
	for _, w := range []string{"ai-llm", "nvidia.com/gpu=7", cdiFix, "defined: nvidia.com/gpu=0"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "asks for nvidia.com/gpu=0,") {
		t.Errorf("error names a defined device: %v", err)
	}
	if err := checkCDI("ai-llm", []string{"nvidia.com/gpu=0"}, []string{other}); !errors.Is(err, ErrGPUUnavailable) {
		t.Errorf("no spec at all: err %v", err)
	}
}

func TestGPUCreateErrorMapping(t *testing.T) {
	cases := []struct {
		engine string
		gpu    bool
	}{
		{"libpod create: setting up CDI devices: unresolvable CDI devices nvidia.com/gpu=0 (HTTP 500)", true},
		{`Error response from daemon: could not select device driver "nvidia" with capabilities: [[gpu]]`, true},
		{"libpod create: no such image (HTTP 404)", false},
	}
	// A container an older agent made through the compat API: the fix is
	// a new container, not the CDI spec.
	err := gpuEngineError("container 0123456789ab", nil, errors.New("start 0123456789ab: setting up CDI devices: unresolvable CDI devices nvidia.com/gpu=0::rwm"))
	if !errors.Is(err, ErrGPUUnavailable) || !strings.Contains(err.Error(), "podman rm 0123456789ab") || strings.Contains(err.Error(), cdiFix) {
		t.Errorf("compat-made GPU container: %v", err)
	}
	for _, tc := range cases {
		err := gpuEngineError("service ai-llm", []string{"nvidia.com/gpu=0"}, errors.New(tc.engine))
		if errors.Is(err, ErrGPUUnavailable) != tc.gpu {
			t.Errorf("%s: ErrGPUUnavailable %v, want %v", tc.engine, errors.Is(err, ErrGPUUnavailable), tc.gpu)
			continue
		}
		if tc.gpu && (!strings.Contains(err.Error(), cdiFix) || !strings.Contains(err.Error(), "ai-llm") || !strings.Contains(err.Error(), tc.engine)) {
			t.Errorf("error %q lacks service, fix or the engine's words", err)
		}
	}
}

// TestLibpodHTTP talks to a stand-in libpod server: path, body, the ID
// answer, and error statuses mapped to the sentinels.
func TestLibpodHTTP(t *testing.T) {
	var gotPath string
	var gotBody map[string]any
	status, answer := http.StatusCreated, `{"Id":"abc123","Warnings":[]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.Method + " " + r.URL.Path
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &gotBody)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	defer srv.Close()
	l := newLibpodHTTP(srv.Client(), "tcp://"+strings.TrimPrefix(srv.URL, "http://"))
	id, err := l.createLibpod(t.Context(), &libpodSpec{Name: "n", Image: "i", Devices: []libpodDevice{{Path: "nvidia.com/gpu=0"}}})
	if err != nil || id != "abc123" {
		t.Fatalf("create = %q, %v", id, err)
	}
	if gotPath != "POST /v4.0.0/libpod/containers/create" || gotBody["name"] != "n" || gotBody["devices"] == nil {
		t.Errorf("request %s %v", gotPath, gotBody)
	}

	status, answer = http.StatusNotFound, `{"cause":"no such image","message":"i: image not known","response":404}`
	_, err = l.createLibpod(t.Context(), &libpodSpec{Name: "n", Image: "i"})
	if err = classify(t.Context(), "create", err); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "image not known") {
		t.Errorf("404: %v", err)
	}
	status, answer = http.StatusInternalServerError, `{"cause":"unresolvable CDI devices","message":"setting up CDI devices: unresolvable CDI devices nvidia.com/gpu=0","response":500}`
	_, err = l.createLibpod(t.Context(), &libpodSpec{Name: "n", Image: "i"})
	if err = gpuEngineError("service ai-llm", []string{"nvidia.com/gpu=0"}, classify(t.Context(), "create", err)); !errors.Is(err, ErrGPUUnavailable) {
		t.Errorf("500 CDI: %v", err)
	}
	status, answer = http.StatusInternalServerError, `{"cause":"x","message":"the container name \"n\" is already in use","response":500}`
	_, err = l.createLibpod(t.Context(), &libpodSpec{Name: "n", Image: "i"})
	if err = classify(t.Context(), "create", err); !errors.Is(err, ErrConflict) {
		t.Errorf("name in use: %v", err)
	}
}

// TestCreateGPUServiceOnPodman: a GPU service goes through libpod with
// every network at once; a device no CDI spec defines is the GPU
// condition before anything is made.
func TestCreateGPUServiceOnPodman(t *testing.T) {
	cdiDir := t.TempDir()
	old := cdiSpecDirs
	cdiSpecDirs = []string{cdiDir}
	t.Cleanup(func() { cdiSpecDirs = old })
	writeCDISpec(t, cdiDir, "nvidia.yaml", "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: \"0\"\n  containerEdits: {env: [A=1]}\n")

	fa := &fakeAPI{missing: true}
	lp := &fakeLibpod{}
	c := newClient(fa, Options{Host: "unix://" + filepath.Join(t.TempDir(), "sock")})
	c.libpod = lp
	st := load(t, t.TempDir(), fullService)
	id, err := c.Create(t.Context(), st, "web")
	if err != nil {
		t.Fatal(err)
	}
	if id != "id-p-web-1" || len(fa.created) != 0 || len(fa.connected) != 0 || len(lp.specs) != 1 {
		t.Fatalf("id %s, compat creates %d, connects %v, libpod creates %d", id, len(fa.created), fa.connected, len(lp.specs))
	}
	s := lp.specs[0]
	if len(s.Networks) != 2 || !slices.Equal(s.Networks["p_front"].Aliases, []string{"web"}) || len(fa.netsMade) != 2 || len(fa.volsMade) != 1 {
		t.Errorf("networks %+v (made %d), volumes made %d", s.Networks, len(fa.netsMade), len(fa.volsMade))
	}

	// device_ids: ['7']: not in the spec.
	fa2 := &fakeAPI{missing: true}
	lp2 := &fakeLibpod{}
	c2 := newClient(fa2, Options{Host: "unix://" + filepath.Join(t.TempDir(), "sock")})
	c2.libpod = lp2
	st2 := load(t, t.TempDir(), "services:\n  ai-llm:\n    image: x\n    volumes: [data:/data]\n    deploy: {resources: {reservations: {devices: [{driver: nvidia, device_ids: ['7'], capabilities: [gpu]}]}}}\nvolumes: {data: {}}\n")
	_, err = c2.Create(t.Context(), st2, "ai-llm")
	if !errors.Is(err, ErrGPUUnavailable) || !strings.Contains(err.Error(), "nvidia.com/gpu=7") || !strings.Contains(err.Error(), cdiFix) {
		t.Errorf("device 7: err %v, want ErrGPUUnavailable naming it and the fix", err)
	}
	if len(fa2.netsMade)+len(fa2.volsMade)+len(fa2.created)+len(lp2.specs) != 0 {
		t.Errorf("made something before refusing: nets %d vols %d compat %d libpod %d", len(fa2.netsMade), len(fa2.volsMade), len(fa2.created), len(lp2.specs))
	}
}

// TestCreateGPUServiceOnDocker: device requests through the compat API;
// Docker's "could not select device driver" is the GPU condition.
func TestCreateGPUServiceOnDocker(t *testing.T) {
	fa := &fakeAPI{missing: true}
	c := newClient(fa, Options{Host: "unix://" + filepath.Join(t.TempDir(), "sock")})
	c.libpod = &fakeLibpod{err: errors.New("must not be called")}
	if err := c.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	c.podman.Store(false) // the fake says Podman; this test is about Docker
	st := load(t, t.TempDir(), fullService)
	if _, err := c.Create(t.Context(), st, "web"); err != nil {
		t.Fatal(err)
	}
	if len(fa.created) != 1 || len(fa.created[0].host.DeviceRequests) != 1 || fa.created[0].host.DeviceRequests[0].Driver != "nvidia" {
		t.Fatalf("compat creates %+v", fa.created)
	}
	fa.createErr = errors.New(`Error response from daemon: could not select device driver "nvidia" with capabilities: [[gpu]]`)
	_, err := c.Create(t.Context(), st, "web")
	if !errors.Is(err, ErrGPUUnavailable) || !strings.Contains(err.Error(), "web") {
		t.Errorf("no nvidia runtime: %v", err)
	}
}

// fakeLibpod records libpod creates.
type fakeLibpod struct {
	mu    sync.Mutex
	specs []*libpodSpec
	err   error
}

func (f *fakeLibpod) createLibpod(ctx context.Context, s *libpodSpec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return "", f.err
	}
	f.specs = append(f.specs, s)
	return "id-" + s.Name, nil
}
