package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hostagent/hostagent/gpu"
	"github.com/hostagent/hostagent/supervisor"
)

// Metrics is the agent's Prometheus registry. The supervisor feeds it
// (supervisor.Deps.Metrics); service status, bring-up progress and GPU
// memory are read from the supervisor and NVML at scrape time.
type Metrics struct {
	reg *prometheus.Registry

	probeLatency *prometheus.HistogramVec
	probeResults *prometheus.CounterVec
	failures     *prometheus.CounterVec
	detection    *prometheus.HistogramVec
	wsClients    prometheus.Gauge
	wsDropped    prometheus.Counter
	buildInfo    *prometheus.GaugeVec
	reloadOK     prometheus.Gauge
	reloadTime   prometheus.Gauge

	once sync.Once
}

var _ supervisor.Metrics = (*Metrics)(nil)

// NewMetrics makes a registry with the agent's metrics and the Go and
// process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		probeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hostagent_probe_duration_seconds",
			Help:    "Health-check latency per service (checks that could be made).",
			Buckets: prometheus.ExponentialBucketsRange(0.001, 10, 12),
		}, []string{"service"}),
		probeResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hostagent_probe_results_total",
			Help: "Health checks per service by result: healthy, unhealthy, or error (could not check).",
		}, []string{"service", "result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hostagent_service_failures_total",
			Help: "Failures detected per service since the agent started.",
		}, []string{"service"}),
		detection: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hostagent_failure_detection_seconds",
			Help:    "Time from the engine's event (container died) to the agent acting on it.",
			Buckets: prometheus.ExponentialBucketsRange(0.001, 60, 12),
		}, []string{"service"}),
		wsClients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hostagent_api_websocket_clients",
			Help: "Connected WebSocket clients.",
		}),
		wsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hostagent_api_websocket_dropped_total",
			Help: "WebSocket clients dropped because they fell behind.",
		}),
		buildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hostagent_build_info",
			Help: "Always 1; the labels say which hostagent runs.",
		}, []string{"version", "goversion"}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hostagent_last_reload_success",
			Help: "1 when the last reload (SIGHUP, systemctl reload) applied, 0 when it failed.",
		}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hostagent_last_reload_timestamp_seconds",
			Help: "Unix time of the last reload attempt (0: none since the agent started).",
		}),
	}
	m.buildInfo.WithLabelValues("dev", runtime.Version()).Set(1)
	m.reloadOK.Set(1)
	m.reg.MustRegister(m.probeLatency, m.probeResults, m.failures, m.detection, m.wsClients, m.wsDropped,
		m.buildInfo, m.reloadOK, m.reloadTime,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// SetVersion labels hostagent_build_info with the binary's version.
func (m *Metrics) SetVersion(version string) {
	m.buildInfo.Reset()
	m.buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
}

// Reloaded records a reload attempt and whether it applied.
func (m *Metrics) Reloaded(ok bool, at time.Time) {
	m.reloadOK.Set(b2f(ok))
	m.reloadTime.Set(float64(at.UnixNano()) / 1e9)
}

// Registry is the registry behind /metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Probe records one health check.
func (m *Metrics) Probe(service string, r supervisor.ProbeResult) {
	result := "unhealthy"
	switch {
	case r.Err != nil:
		result = "error"
	case r.Healthy:
		result = "healthy"
	}
	m.probeResults.WithLabelValues(service, result).Inc()
	if r.Err == nil && r.Latency > 0 {
		m.probeLatency.WithLabelValues(service).Observe(r.Latency.Seconds())
	}
}

// Failure records one detected failure.
func (m *Metrics) Failure(service string) { m.failures.WithLabelValues(service).Inc() }

// Detected records how long detection took.
func (m *Metrics) Detected(service string, latency time.Duration) {
	m.detection.WithLabelValues(service).Observe(latency.Seconds())
}

// attach adds the scrape-time collector; one server per Metrics.
func (m *Metrics) attach(c *stateCollector) error {
	err := errors.New("api: Metrics already attached to a server")
	m.once.Do(func() { err = m.reg.Register(c) })
	return err
}

func (m *Metrics) handler(log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

var allStatuses = []supervisor.Status{supervisor.NotFound, supervisor.Stopped, supervisor.Starting,
	supervisor.Running, supervisor.Unhealthy, supervisor.Disabled}

var (
	descStatus = prometheus.NewDesc("hostagent_service_status",
		"1 for the service's current status (the seed's values), 0 for the others.",
		[]string{"service", "category", "status"}, nil)
	descEnabled = prometheus.NewDesc("hostagent_service_enabled",
		"1 when auto-restart is enabled.", []string{"service"}, nil)
	descRestarts = prometheus.NewDesc("hostagent_service_restarts_total",
		"Restarts of the service (persisted across agent restarts).", []string{"service"}, nil)
	descFailures = prometheus.NewDesc("hostagent_service_consecutive_failures",
		"Consecutive failures counting toward max failures.", []string{"service"}, nil)
	descUptime = prometheus.NewDesc("hostagent_service_uptime_seconds",
		"Seconds since the service's container started (0 unless starting or running).", []string{"service"}, nil)
	descRunning = prometheus.NewDesc("hostagent_bringup_services_running",
		"Services running.", nil, nil)
	descTotal = prometheus.NewDesc("hostagent_bringup_services",
		"Services in the stack.", nil, nil)
	descEngineUp = prometheus.NewDesc("hostagent_engine_up",
		"1 when the container engine (Podman) answered the agent's last call.", nil, nil)
	descGPUQueue = prometheus.NewDesc("hostagent_gpu_lane_queue_length",
		"GPU services waiting for the GPU lane.", nil, nil)
	descPhase = prometheus.NewDesc("hostagent_bringup_phase",
		"Lowest core phase with a service not yet running (equals phases when done).", nil, nil)
	descPhases = prometheus.NewDesc("hostagent_bringup_phases",
		"Core phases in the plan.", nil, nil)
	descDone = prometheus.NewDesc("hostagent_bringup_done",
		"1 once every enabled core service is running.", nil, nil)
	descGPUAvail = prometheus.NewDesc("hostagent_gpu_available",
		"1 when NVML can be read.", nil, nil)
	gpuLabels    = []string{"gpu", "uuid", "name"}
	descGPUTotal = prometheus.NewDesc("hostagent_gpu_memory_total_bytes", "GPU memory.", gpuLabels, nil)
	descGPUUsed  = prometheus.NewDesc("hostagent_gpu_memory_used_bytes", "GPU memory in use.", gpuLabels, nil)
	descGPUFree  = prometheus.NewDesc("hostagent_gpu_memory_free_bytes", "GPU memory free.", gpuLabels, nil)
)

// stateCollector reads status at scrape time, so the numbers are never
// staler than the supervisor's own snapshot.
type stateCollector struct {
	sup      Supervisor
	gpu      gpu.SnapshotSource
	gate     GPUWaits
	engineUp func() bool
	timeout  time.Duration
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descStatus, descEnabled, descRestarts, descFailures, descUptime,
		descRunning, descTotal, descPhase, descPhases, descDone, descGPUAvail, descGPUTotal, descGPUUsed, descGPUFree,
		descEngineUp, descGPUQueue} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, s := range c.sup.Services() {
		for _, st := range allStatuses {
			gauge(descStatus, b2f(s.Status == st), s.Name, s.Category, st.String())
		}
		gauge(descEnabled, b2f(s.Enabled), s.Name)
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(s.RestartCount), s.Name)
		gauge(descFailures, float64(s.FailureCount), s.Name)
		gauge(descUptime, float64(s.UptimeSeconds), s.Name)
	}
	p := c.sup.Progress()
	gauge(descRunning, float64(p.Running))
	gauge(descTotal, float64(p.Total))
	gauge(descPhase, float64(p.Phase))
	gauge(descPhases, float64(p.Phases))
	gauge(descDone, b2f(p.Done))
	if c.engineUp != nil {
		gauge(descEngineUp, b2f(c.engineUp()))
	} else {
		gauge(descEngineUp, b2f(p.EngineError == ""))
	}
	queue := 0
	if c.gate != nil {
		queue = len(c.gate.Waiting())
	}
	gauge(descGPUQueue, float64(queue))
	if c.gpu == nil {
		gauge(descGPUAvail, 0)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	snap := c.gpu.Snapshot(ctx)
	gauge(descGPUAvail, b2f(snap.Available))
	for _, d := range snap.Devices {
		l := []string{strconv.Itoa(d.Index), d.UUID, d.Name}
		gauge(descGPUTotal, float64(d.TotalBytes), l...)
		gauge(descGPUUsed, float64(d.UsedBytes), l...)
		gauge(descGPUFree, float64(d.FreeBytes), l...)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
