package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/hostagent/hostagent/gpu"
	"github.com/hostagent/hostagent/supervisor"
)

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, body)
	}
	return v
}

func TestHealth(t *testing.T) {
	cases := []struct {
		name   string
		change func(f *fakeSup)
		want   string
		counts map[string]int
	}{
		{"all running", func(*fakeSup) {}, Healthy, map[string]int{"total": 5, "running": 5}},
		{"ai down", func(f *fakeSup) {
			f.set("ai-yolo26", func(s *supervisor.ServiceStatus) { s.Status = supervisor.Unhealthy })
		}, Degraded, map[string]int{"running": 4, "unhealthy": 1}},
		{"disabled by hand", func(f *fakeSup) {
			f.set("prometheus", func(s *supervisor.ServiceStatus) { s.Status, s.Enabled = supervisor.Disabled, false })
		}, Degraded, map[string]int{"disabled": 1}},
		{"database down", func(f *fakeSup) {
			f.set("postgres", func(s *supervisor.ServiceStatus) { s.Status = supervisor.Stopped })
		}, Unhealthy, map[string]int{"stopped": 1, "running": 4}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSup()
			tc.change(f)
			w := do(t, newServer(t, f, Options{}).Handler(), "GET", "/api/system/health", "")
			wantCode(t, w, http.StatusOK)
			b := decode[struct {
				Status   string         `json:"status"`
				Services map[string]int `json:"services"`
			}](t, w.Body.Bytes())
			if b.Status != tc.want {
				t.Errorf("status %q, want %q", b.Status, tc.want)
			}
			for k, v := range tc.counts {
				if b.Services[k] != v {
					t.Errorf("services[%s] = %d, want %d (%v)", k, b.Services[k], v, b.Services)
				}
			}
		})
	}
}

func TestReady(t *testing.T) {
	f := newFakeSup()
	h := newServer(t, f, Options{}).Handler()
	w := do(t, h, "GET", "/api/system/health/ready", "")
	wantCode(t, w, http.StatusOK)
	ok := decode[readyBody](t, w.Body.Bytes())
	if !ok.Ready || ok.Status != "ready" || ok.Services["postgres"] != supervisor.Running {
		t.Fatalf("ready body %+v", ok)
	}
	if _, has := ok.Services["prometheus"]; has {
		t.Errorf("monitoring service in readiness: %v", ok.Services)
	}

	// Bring-up still going: ai-yolo26 starting.
	f.set("ai-yolo26", func(s *supervisor.ServiceStatus) {
		s.Status = supervisor.Starting
		s.WaitingFor = []string{"postgres (healthy)"}
	})
	f.mu.Lock()
	f.progress = supervisor.Progress{Phase: 2, Phases: 3, Running: 4, Total: 5, Waiting: []string{"ai-yolo26"}}
	f.mu.Unlock()
	w = do(t, h, "GET", "/api/system/health/ready", "")
	wantCode(t, w, http.StatusServiceUnavailable)
	nr := decode[readyBody](t, w.Body.Bytes())
	if nr.Ready || nr.Status != "not_ready" || len(nr.NotReady) != 1 || nr.NotReady[0].Name != "ai-yolo26" || nr.NotReady[0].Status != supervisor.Starting {
		t.Fatalf("not-ready body %s", w.Body.String())
	}

	// A monitoring service down and a core one disabled by hand do not
	// hold readiness back.
	f.set("ai-yolo26", func(s *supervisor.ServiceStatus) { s.Status, s.Enabled = supervisor.Disabled, false })
	f.set("prometheus", func(s *supervisor.ServiceStatus) { s.Status = supervisor.Unhealthy })
	f.mu.Lock()
	f.progress = supervisor.Progress{Phase: 3, Phases: 3, Running: 3, Total: 5, Done: true}
	f.mu.Unlock()
	wantCode(t, do(t, h, "GET", "/api/system/health/ready", ""), http.StatusOK)
}

func TestServicesCarryTheirFields(t *testing.T) {
	h := newServer(t, newFakeSup(), Options{}).Handler()
	w := do(t, h, "GET", "/api/system/services", "")
	wantCode(t, w, http.StatusOK)
	var raw struct {
		Services []map[string]any `json:"services"`
		Total    int              `json:"total"`
		Progress map[string]any   `json:"progress"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if raw.Total != 5 || len(raw.Services) != 5 || raw.Progress["done"] != true {
		t.Fatalf("services body: %s", w.Body.String())
	}
	fields := []string{"name", "display_name", "category", "status", "enabled", "container_id", "image", "port",
		"failure_count", "restart_count", "last_restart_at", "uptime_seconds"}
	for _, s := range raw.Services {
		for _, k := range fields {
			if _, ok := s[k]; !ok {
				t.Errorf("service %v lacks %q", s["name"], k)
			}
		}
	}
	yolo := raw.Services[2]
	if yolo["name"] != "ai-yolo26" || yolo["status"] != "running" || yolo["restart_count"] != 2.0 ||
		yolo["last_restart_at"] != "2024-01-15T09:30:00Z" || yolo["port"] != 8095.0 || yolo["category"] != "ai" {
		t.Errorf("ai-yolo26 = %v", yolo)
	}

	w = do(t, h, "GET", "/api/system/services/redis", "")
	wantCode(t, w, http.StatusOK)
	if got := decode[supervisor.ServiceStatus](t, w.Body.Bytes()); got.Name != "redis" || got.DisplayName != "Redis" {
		t.Errorf("redis = %+v", got)
	}
}

func TestUnknownService(t *testing.T) {
	h := newServer(t, newFakeSup(), Options{}).Handler()
	for _, c := range []struct{ method, path, token string }{
		{"GET", "/api/system/services/nope", ""},
		{"POST", "/api/system/services/nope/restart", testToken},
		{"POST", "/api/system/services/nope/enable", testToken},
		{"POST", "/api/system/services/nope/disable", testToken},
	} {
		w := do(t, h, c.method, c.path, c.token)
		wantCode(t, w, http.StatusNotFound)
		b := decode[map[string]string](t, w.Body.Bytes())
		if b["service"] != "nope" || !strings.Contains(b["error"], "unknown service") {
			t.Errorf("%s %s: %v", c.method, c.path, b)
		}
	}
}

func TestMutatingCallsNeedToken(t *testing.T) {
	f := newFakeSup()
	h := newServer(t, f, Options{}).Handler()
	for _, path := range []string{"/api/system/services/redis/restart", "/api/system/services/redis/enable", "/api/system/services/redis/disable"} {
		for _, tok := range []string{"", "wrong", testToken + "x", "s3cret"} {
			w := do(t, h, "POST", path, tok)
			wantCode(t, w, http.StatusUnauthorized)
			if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("no WWW-Authenticate on 401")
			}
			if decode[map[string]string](t, w.Body.Bytes())["error"] == "" {
				t.Errorf("401 without error text")
			}
		}
	}
	// Basic auth or a bare token is not a bearer token.
	for _, hdr := range []string{"Basic " + testToken, testToken, "Bearer", "Bearer  "} {
		req := newRequest(t, "POST", "/api/system/services/redis/restart", nil)
		req.Header.Set("Authorization", hdr)
		wantCode(t, serve(h, req), http.StatusUnauthorized)
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Fatalf("unauthorised calls reached the supervisor: %v", calls)
	}
}

func TestRestartEnableDisable(t *testing.T) {
	f := newFakeSup()
	h := newServer(t, f, Options{}).Handler()

	w := do(t, h, "POST", "/api/system/services/ai-yolo26/restart?reset_failures=true", testToken)
	wantCode(t, w, http.StatusAccepted)
	b := decode[ActionBody](t, w.Body.Bytes())
	if b.Message != "Manual restart initiated" || !b.ResetFailures || b.Data == nil || b.Data.RestartCount != 3 {
		t.Errorf("restart body %s", w.Body.String())
	}
	wantCode(t, do(t, h, "POST", "/api/system/services/redis/restart", testToken), http.StatusAccepted)
	wantCode(t, do(t, h, "POST", "/api/system/services/redis/restart?reset_failures=0", testToken), http.StatusAccepted)
	w = do(t, h, "POST", "/api/system/services/backend/disable", testToken)
	wantCode(t, w, http.StatusOK)
	if b := decode[ActionBody](t, w.Body.Bytes()); b.Message != "Service disabled" || b.Data.Enabled || b.Data.Status != supervisor.Disabled {
		t.Errorf("disable body %s", w.Body.String())
	}
	wantCode(t, do(t, h, "POST", "/api/system/services/backend/enable", testToken), http.StatusOK)

	want := []string{"restart ai-yolo26 reset=true", "restart redis reset=false", "restart redis reset=false", "disable backend", "enable backend"}
	if got := f.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}

	// GET on a mutating route is not routed to it.
	w = do(t, h, "GET", "/api/system/services/redis/restart", testToken)
	if w.Code != http.StatusNotFound && w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET restart: %d", w.Code)
	}

	f.callErr = errors.New("supervisor is not running yet")
	w = do(t, h, "POST", "/api/system/services/redis/enable", testToken)
	wantCode(t, w, http.StatusServiceUnavailable)
	if !strings.Contains(w.Body.String(), "not running yet") {
		t.Errorf("503 body %s", w.Body.String())
	}
}

func TestBadParameters(t *testing.T) {
	f := newFakeSup()
	h := newServer(t, f, Options{}).Handler()
	for _, c := range []struct{ method, target, param string }{
		{"POST", "/api/system/services/redis/restart?reset_failures=maybe", "reset_failures"},
		{"POST", "/api/system/services/redis/restart?reset_failures=true&reset_failures=false", "reset_failures"},
		{"POST", "/api/system/services/redis/restart?force=1", "force"},
		{"GET", "/api/system/health/events?limit=abc", "limit"},
		{"GET", "/api/system/health/events?limit=0", "limit"},
		{"GET", "/api/system/health/events?limit=-3", "limit"},
		{"GET", "/api/system/health/events?limit=501", "limit"},
		{"GET", "/api/system/health/events?limit=1e3", "limit"},
		{"GET", "/api/system/services?verbose=1", "verbose"},
	} {
		w := do(t, h, c.method, c.target, testToken)
		wantCode(t, w, http.StatusBadRequest)
		if b := decode[map[string]string](t, w.Body.Bytes()); b["parameter"] != c.param || b["error"] == "" {
			t.Errorf("%s: %v", c.target, b)
		}
	}
	wantCode(t, do(t, h, "GET", "/api/system/health/events?limit=%zz", ""), http.StatusBadRequest)
	if calls := f.Calls(); len(calls) != 0 {
		t.Errorf("bad requests reached the supervisor: %v", calls)
	}
}

func TestEvents(t *testing.T) {
	f := newFakeSup()
	h := newServer(t, f, Options{}).Handler()
	w := do(t, h, "GET", "/api/system/health/events", "")
	wantCode(t, w, http.StatusOK)
	if b := decode[eventsBody](t, w.Body.Bytes()); b.Events == nil || b.Count != 0 || b.Limit != 50 || f.eventLimit != 50 {
		t.Errorf("empty events: %s (limit asked %d)", w.Body.String(), f.eventLimit)
	}
	for range 4 {
		_ = f.Restart(t.Context(), "redis", false)
	}
	w = do(t, h, "GET", "/api/system/health/events?limit=5", "")
	wantCode(t, w, http.StatusOK)
	var raw struct {
		Events []map[string]any `json:"events"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &raw)
	if len(raw.Events) != 5 || f.eventLimit != 5 {
		t.Fatalf("limit=5 gave %d events", len(raw.Events))
	}
	last := raw.Events[4]
	if last["type"] != "service_status" || last["message"] != "Service recovered" || last["seq"] != 12.0 || last["timestamp"] == nil {
		t.Errorf("last event %v", last)
	}
	if data, _ := last["data"].(map[string]any); data["name"] != "redis" || data["status"] != "running" {
		t.Errorf("event data %v", last["data"])
	}
	wantCode(t, do(t, h, "GET", "/api/system/health/events?limit=500", ""), http.StatusOK)
}

func TestPlanAndFull(t *testing.T) {
	h := newServer(t, newFakeSup(), Options{}).Handler()
	w := do(t, h, "GET", "/api/system/plan", "")
	wantCode(t, w, http.StatusOK)
	p := decode[struct {
		Project      string   `json:"project"`
		CriticalPath []string `json:"critical_path"`
	}](t, w.Body.Bytes())
	if p.Project != "security" || len(p.CriticalPath) != 3 {
		t.Errorf("plan %s", w.Body.String())
	}

	w = do(t, h, "GET", "/api/system/health/full", "")
	wantCode(t, w, http.StatusOK)
	full := decode[fullBody](t, w.Body.Bytes())
	if full.Status != Healthy || len(full.Services) != 5 || full.Counts.Running != 5 || !full.Progress.Done ||
		full.GPU.Available || full.GPU.Reason == "" {
		t.Errorf("full %s", w.Body.String())
	}
}

func TestGPU(t *testing.T) {
	f := newFakeSup()
	w := do(t, newServer(t, f, Options{}).Handler(), "GET", "/api/system/gpu", "")
	wantCode(t, w, http.StatusOK)
	if w.Body.String() != `{"available":false,"reason":"`+noGPUSource+`"}`+"\n" {
		t.Errorf("no GPU source: %s", w.Body.String())
	}

	yoloID := f.svcs[2].ContainerID + strings.Repeat("0", 52)
	src := fakeGPU{gpu.Snapshot{Available: true, DriverVersion: "550.54", Devices: []gpu.Device{{
		Index: 0, UUID: "GPU-1", Name: "NVIDIA H200", TotalBytes: 140 << 30, UsedBytes: 4 << 30, FreeBytes: 136 << 30,
		Processes: []gpu.Process{{PID: 42, UsedBytes: 4 << 30, ContainerID: yoloID}, {PID: 7}},
	}}}}
	w = do(t, newServer(t, f, Options{GPU: src}).Handler(), "GET", "/api/system/gpu", "")
	wantCode(t, w, http.StatusOK)
	b := decode[gpuBody](t, w.Body.Bytes())
	if !b.Available || len(b.Devices) != 1 || b.Devices[0].UsedMB != 4096 || b.Devices[0].TotalMB != 140<<10 ||
		b.Devices[0].Processes[0].Service != "ai-yolo26" || b.Devices[0].Processes[1].Service != "" {
		t.Errorf("gpu %s", w.Body.String())
	}

	w = do(t, newServer(t, f, Options{GPU: fakeGPU{gpu.Snapshot{Reason: "libnvidia-ml.so.1 not found"}}}).Handler(), "GET", "/api/system/gpu", "")
	if b := decode[gpuBody](t, w.Body.Bytes()); b.Available || b.Reason != "libnvidia-ml.so.1 not found" {
		t.Errorf("no NVML: %s", w.Body.String())
	}
}

func TestPanicIs500JSON(t *testing.T) {
	f := newFakeSup()
	f.panicOn = "Services"
	w := do(t, newServer(t, f, Options{}).Handler(), "GET", "/api/system/services", "")
	wantCode(t, w, http.StatusInternalServerError)
	if b := decode[map[string]string](t, w.Body.Bytes()); b["error"] != "internal error" {
		t.Errorf("panic body %v", b)
	}
}

func TestLimitsAndUnknownRoutes(t *testing.T) {
	h := newServer(t, newFakeSup(), Options{}).Handler()
	w := do(t, h, "GET", "/api/system/services/"+strings.Repeat("a", 2000), "")
	wantCode(t, w, http.StatusRequestURITooLong)

	r := strings.NewReader(strings.Repeat("x", 5000))
	req := newRequest(t, "POST", "/api/system/services/redis/enable", r)
	req.Header.Set("Authorization", "Bearer "+testToken)
	w = serve(h, req)
	wantCode(t, w, http.StatusRequestEntityTooLarge)

	w = do(t, h, "GET", "/api/system/nothing", "")
	wantCode(t, w, http.StatusNotFound)
	if decode[map[string]string](t, w.Body.Bytes())["error"] == "" {
		t.Errorf("404 route body %s", w.Body.String())
	}
}
