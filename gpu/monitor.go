package gpu

import (
	"context"
	"log/slog"
	"sync"

	"github.com/hostagent/hostagent/internal/cgroup"
)

// Driver is the part of NVML the monitor reads. NewNVML returns the real one;
// tests stand in a fake.
type Driver interface {
	// Init loads the library and initialises NVML; an error means "no NVML".
	Init() error
	Shutdown() error
	DriverVersion() (string, error)
	// Devices reads every device. Processes carry PID and UsedBytes; the
	// monitor fills in ContainerID.
	Devices() ([]Device, error)
}

// Monitor turns Driver readings into Snapshots. It is safe for concurrent use.
type Monitor struct {
	drv      Driver
	log      *slog.Logger
	procRoot string

	// drvMu serialises the driver and guards what only a read touches.
	drvMu      sync.Mutex
	inited     bool
	initErr    error
	lastReason string // the unavailability last logged, "" when available

	// mu guards the single read in flight and its result: callers share
	// one NVML read, and each waits only as long as its own context.
	mu       sync.Mutex
	inflight chan struct{}
	result   Snapshot
	slow     bool // a caller gave up waiting; logged once until a read returns
}

// MonitorOption configures a Monitor.
type MonitorOption func(*Monitor)

// WithProcRoot reads process cgroups under dir instead of /proc.
func WithProcRoot(dir string) MonitorOption { return func(m *Monitor) { m.procRoot = dir } }

// NewMonitor returns a monitor over drv. NVML is initialised on the first
// Snapshot, so constructing one never fails and costs nothing.
func NewMonitor(drv Driver, log *slog.Logger, opts ...MonitorOption) *Monitor {
	m := &Monitor{drv: drv, log: log, procRoot: "/proc"}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Snapshot reads every device now. When NVML cannot be used it returns
// Available=false with the reason; the first time (and whenever the reason
// changes) that is logged, never on every call. An Init failure is final:
// a host without the library does not grow one while the agent runs, and
// retrying would only repeat the dlopen.
//
// NVML calls cannot be cancelled, so a read runs on its own and concurrent
// callers share it; each returns when its ctx ends, with Available=false
// and the reason, so a hung driver stalls neither /gpu, /metrics nor the
// gate.
func (m *Monitor) Snapshot(ctx context.Context) Snapshot {
	m.mu.Lock()
	done := m.inflight
	if done == nil {
		done = make(chan struct{})
		m.inflight = done
		go func() {
			snap := m.read()
			m.mu.Lock()
			m.result, m.inflight, m.slow = snap, nil, false
			m.mu.Unlock()
			close(done)
		}()
	}
	m.mu.Unlock()
	select {
	case <-done:
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.result
	case <-ctx.Done():
		m.mu.Lock()
		defer m.mu.Unlock()
		if !m.slow {
			m.slow = true
			m.log.Warn("gpu: NVML did not answer in time; VRAM figures unknown until it does", "err", ctx.Err())
		}
		return Snapshot{Reason: "NVML did not answer in time"}
	}
}

// read is one NVML read; only one runs at a time.
func (m *Monitor) read() Snapshot {
	m.drvMu.Lock()
	defer m.drvMu.Unlock()
	if !m.inited {
		m.inited = true
		if err := m.drv.Init(); err != nil {
			m.initErr = err
		}
	}
	if m.initErr != nil {
		return m.unavailableLocked("no NVML: " + m.initErr.Error())
	}
	devs, err := m.drv.Devices()
	if err != nil {
		return m.unavailableLocked("NVML: " + err.Error())
	}
	if len(devs) == 0 {
		return m.unavailableLocked("no NVIDIA GPU: NVML reports 0 devices")
	}
	version, err := m.drv.DriverVersion()
	if err != nil {
		version = ""
	}
	for i := range devs {
		for j := range devs[i].Processes {
			p := &devs[i].Processes[j]
			id, err := cgroup.ContainerIDForPID(m.procRoot, p.PID)
			if err != nil && !cgroup.IsGone(err) {
				m.log.Debug("gpu: cannot map process to container", "pid", p.PID, "err", err)
			}
			p.ContainerID = id
		}
	}
	if m.lastReason != "" {
		m.log.Info("gpu: NVML available again", "devices", len(devs))
		m.lastReason = ""
	}
	return Snapshot{Available: true, DriverVersion: version, Devices: devs}
}

func (m *Monitor) unavailableLocked(reason string) Snapshot {
	if reason != m.lastReason {
		m.log.Warn("gpu: NVML unavailable, VRAM is not monitored", "reason", reason)
		m.lastReason = reason
	}
	return Snapshot{Reason: reason}
}

// UsageByContainer reads a snapshot and sums per-process use by container ID
// (nil when NVML is unavailable).
func (m *Monitor) UsageByContainer(ctx context.Context) map[string]uint64 {
	s := m.Snapshot(ctx)
	if !s.Available {
		return nil
	}
	return s.UsageByContainer()
}

// Close shuts NVML down if it was initialised.
func (m *Monitor) Close() error {
	m.drvMu.Lock()
	defer m.drvMu.Unlock()
	if !m.inited || m.initErr != nil {
		return nil
	}
	m.inited = false
	return m.drv.Shutdown()
}
