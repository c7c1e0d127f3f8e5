package api

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/hostagent/hostagent/gpu"
	"github.com/hostagent/hostagent/supervisor"
)

func TestMetrics(t *testing.T) {
	f := newFakeSup()
	f.set("ai-yolo26", func(s *supervisor.ServiceStatus) { s.Status, s.FailureCount = supervisor.Unhealthy, 3 })
	m := NewMetrics()
	// The supervisor feeds these through the supervisor.Metrics interface.
	var sm supervisor.Metrics = m
	sm.Probe("redis", supervisor.ProbeResult{Healthy: true, Latency: 3 * time.Millisecond})
	sm.Probe("redis", supervisor.ProbeResult{Healthy: true, Latency: 4 * time.Millisecond})
	sm.Probe("ai-yolo26", supervisor.ProbeResult{Healthy: false, Latency: 5 * time.Second})
	sm.Probe("ai-yolo26", supervisor.ProbeResult{Err: errors.New("exec refused")})
	sm.Failure("ai-yolo26")
	sm.Detected("ai-yolo26", 120*time.Millisecond)

	src := fakeGPU{gpu.Snapshot{Available: true, Devices: []gpu.Device{{Index: 0, UUID: "GPU-1", Name: "H200",
		TotalBytes: 1000, UsedBytes: 300, FreeBytes: 700}}}}
	s := newServer(t, f, Options{Metrics: m, GPU: src})
	w := do(t, s.Handler(), "GET", "/metrics", "")
	if w.Code != http.StatusOK {
		t.Fatalf("/metrics %d", w.Code)
	}
	body := w.Body.String()
	for _, want := range []string{
		`hostagent_service_status{category="ai",service="ai-yolo26",status="unhealthy"} 1`,
		`hostagent_service_status{category="ai",service="ai-yolo26",status="running"} 0`,
		`hostagent_service_status{category="infrastructure",service="redis",status="running"} 1`,
		`hostagent_service_restarts_total{service="ai-yolo26"} 2`,
		`hostagent_service_consecutive_failures{service="ai-yolo26"} 3`,
		`hostagent_service_enabled{service="redis"} 1`,
		`hostagent_probe_results_total{result="healthy",service="redis"} 2`,
		`hostagent_probe_results_total{result="unhealthy",service="ai-yolo26"} 1`,
		`hostagent_probe_results_total{result="error",service="ai-yolo26"} 1`,
		`hostagent_probe_duration_seconds_count{service="redis"} 2`,
		`hostagent_probe_duration_seconds_count{service="ai-yolo26"} 1`,
		`hostagent_service_failures_total{service="ai-yolo26"} 1`,
		`hostagent_failure_detection_seconds_count{service="ai-yolo26"} 1`,
		`hostagent_bringup_services_running 5`,
		`hostagent_bringup_services 5`,
		`hostagent_engine_up 1`,
		`hostagent_gpu_lane_queue_length 0`,
		`hostagent_build_info{goversion="go`,
		`hostagent_last_reload_success 1`,
		`hostagent_bringup_done 1`,
		`hostagent_gpu_available 1`,
		`hostagent_gpu_memory_used_bytes{gpu="0",name="H200",uuid="GPU-1"} 300`,
		`hostagent_gpu_memory_free_bytes{gpu="0",name="H200",uuid="GPU-1"} 700`,
		`hostagent_api_websocket_clients 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// One server per Metrics: a second would double-register.
	if _, err := New(f, nil, quietLogger(), Options{Addr: "127.0.0.1:0", Metrics: m}); err == nil {
		t.Errorf("second server on the same Metrics accepted")
	}
}

func TestMetricsWithoutGPU(t *testing.T) {
	w := do(t, newServer(t, newFakeSup(), Options{}).Handler(), "GET", "/metrics", "")
	if !strings.Contains(w.Body.String(), "hostagent_gpu_available 0") || strings.Contains(w.Body.String(), "hostagent_gpu_memory_total_bytes{") {
		t.Errorf("no-GPU metrics:\n%s", w.Body.String())
	}
}

// The exposition follows Prometheus conventions, as promlint checks them:
// counters end in _total, no gauge ends in _total or _count, units in names.
func TestMetricsPromlint(t *testing.T) {
	m := NewMetrics()
	m.SetVersion("1.2.3")
	m.Reloaded(false, time.Unix(1700000000, 0))
	m.Probe("redis", supervisor.ProbeResult{Healthy: true, Latency: time.Millisecond})
	m.Failure("redis")
	m.Detected("redis", time.Millisecond)
	s := newServer(t, newFakeSup(), Options{Metrics: m})
	body := do(t, s.Handler(), "GET", "/metrics", "").Body.String()
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "hostagent_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
	for _, want := range []string{
		`hostagent_build_info{goversion="go`, `version="1.2.3"} 1`,
		"hostagent_last_reload_success 0", "hostagent_last_reload_timestamp_seconds 1.7e+09",
		"# TYPE hostagent_service_restarts_total counter",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
