package gpu

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hostagent/hostagent/internal/testsupport/cgrouptest"
)

// fakeDriver is a Driver whose answers tests set.
type fakeDriver struct {
	mu                    sync.Mutex
	initErr, devErr       error
	devs                  []Device
	inits, shutdowns, rds int
}

func (d *fakeDriver) Init() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inits++
	return d.initErr
}

func (d *fakeDriver) Shutdown() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.shutdowns++
	return nil
}

func (d *fakeDriver) DriverVersion() (string, error) { return "550.54.15", nil }

func (d *fakeDriver) Devices() ([]Device, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rds++
	if d.devErr != nil {
		return nil, d.devErr
	}
	out := make([]Device, len(d.devs))
	for i, dev := range d.devs {
		dev.Processes = append([]Process(nil), dev.Processes...)
		out[i] = dev
	}
	return out, nil
}

func (d *fakeDriver) set(devs []Device, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.devs, d.devErr = devs, err
}

func TestMonitorWithoutNVMLLogsOnce(t *testing.T) {
	drv := &fakeDriver{initErr: errors.New("nvml init: ERROR_LIBRARY_NOT_FOUND")}
	log, rec := newLogger()
	m := NewMonitor(drv, log)
	for range 3 {
		s := m.Snapshot(t.Context())
		if s.Available || !strings.Contains(s.Reason, "no NVML") || !strings.Contains(s.Reason, "ERROR_LIBRARY_NOT_FOUND") {
			t.Fatalf("snapshot = %+v", s)
		}
	}
	if m.UsageByContainer(t.Context()) != nil {
		t.Error("usage without NVML")
	}
	if drv.inits != 1 {
		t.Errorf("Init called %d times, want once", drv.inits)
	}
	if n := rec.count("NVML unavailable"); n != 1 {
		t.Errorf("logged %d times, want once", n)
	}
	if err := m.Close(); err != nil || drv.shutdowns != 0 {
		t.Errorf("Close after failed Init: %v, %d shutdowns", err, drv.shutdowns)
	}
}

func TestMonitorMapsProcessesToContainers(t *testing.T) {
	root := cgrouptest.WriteProc(t, map[int]string{
		100: "0::/machine.slice/libpod-" + idA + ".scope/container\n",
		101: "0::/machine.slice/libpod-" + idA + ".scope/container\n",
		200: "0::/user.slice/user-1000.slice/session-2.scope\n",
		300: "0::/libpod_parent/libpod-" + idB + "\n",
		// 400 has exited: no /proc entry.
	})
	drv := &fakeDriver{devs: []Device{
		{Index: 0, UUID: "GPU-a", TotalBytes: 80 * gib, UsedBytes: 10 * gib, FreeBytes: 70 * gib, Processes: []Process{
			{PID: 100, UsedBytes: 3 * gib}, {PID: 200, UsedBytes: gib}, {PID: 400, UsedBytes: gib},
		}},
		{Index: 1, UUID: "GPU-b", TotalBytes: 80 * gib, UsedBytes: 5 * gib, FreeBytes: 75 * gib, Processes: []Process{
			{PID: 101, UsedBytes: 2 * gib}, {PID: 300, UsedBytes: 3 * gib},
		}},
	}}
	log, _ := newLogger()
	m := NewMonitor(drv, log, WithProcRoot(root))
	s := m.Snapshot(t.Context())
	if !s.Available || s.DriverVersion != "550.54.15" || len(s.Devices) != 2 {
		t.Fatalf("snapshot = %+v", s)
	}
	wantIDs := [][]string{{idA, "", ""}, {idA, idB}}
	for i, d := range s.Devices {
		for j, p := range d.Processes {
			if p.ContainerID != wantIDs[i][j] {
				t.Errorf("device %d pid %d: container %q, want %q", i, p.PID, p.ContainerID, wantIDs[i][j])
			}
		}
	}
	use := m.UsageByContainer(t.Context())
	if len(use) != 2 || use[idA] != 5*gib || use[idB] != 3*gib {
		t.Errorf("UsageByContainer = %v", use)
	}
	if err := m.Close(); err != nil || drv.shutdowns != 1 {
		t.Errorf("Close: %v, %d shutdowns", err, drv.shutdowns)
	}
}

func TestMonitorReasonChangesAreLogged(t *testing.T) {
	drv := &fakeDriver{}
	log, rec := newLogger()
	m := NewMonitor(drv, log)
	for range 2 {
		if s := m.Snapshot(t.Context()); s.Available || !strings.Contains(s.Reason, "0 devices") {
			t.Fatalf("no devices: %+v", s)
		}
	}
	drv.set(nil, errors.New("device 0: memory info: ERROR_GPU_IS_LOST"))
	if s := m.Snapshot(t.Context()); s.Available || !strings.Contains(s.Reason, "GPU_IS_LOST") {
		t.Fatalf("device error: %+v", s)
	}
	drv.set([]Device{{Index: 0, TotalBytes: gib, FreeBytes: gib}}, nil)
	if s := m.Snapshot(t.Context()); !s.Available {
		t.Fatalf("recovered: %+v", s)
	}
	if n := rec.count("NVML unavailable"); n != 2 {
		t.Errorf("unavailable logged %d times for 2 distinct reasons", n)
	}
	if rec.count("available again") != 1 {
		t.Error("recovery not logged")
	}
}

const (
	idA = "8c6c7f5e0b1d4a3f9e2c7b6a5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c"
	idB = "1111111111111111111111111111111111111111111111111111111111111111"
)

// hungDriver's Devices blocks until released, like an NVML call on a
// wedged driver.
type hungDriver struct {
	fakeDriver
	release chan struct{}
	calls   atomic.Int32
}

func (d *hungDriver) Devices() ([]Device, error) {
	d.calls.Add(1)
	<-d.release
	return d.fakeDriver.Devices()
}

func TestMonitorHungNVMLStallsNoCaller(t *testing.T) {
	drv := &hungDriver{release: make(chan struct{})}
	drv.set([]Device{{Index: 0, UUID: "GPU-a", TotalBytes: 80 * gib, FreeBytes: 80 * gib}}, nil)
	log, _ := newLogger()
	m := NewMonitor(drv, log)
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			start := time.Now()
			snap := m.Snapshot(ctx)
			if d := time.Since(start); d > time.Second {
				t.Errorf("Snapshot waited %s on a hung driver, want its own deadline", d)
			}
			if snap.Available || snap.Reason == "" {
				t.Errorf("snapshot %+v, want unavailable with a reason", snap)
			}
		}()
	}
	wg.Wait()
	if n := drv.calls.Load(); n != 1 {
		t.Errorf("%d concurrent driver reads, want the callers to share one", n)
	}
	close(drv.release)
	// Once the driver answers, the next caller gets real figures.
	deadline := time.Now().Add(5 * time.Second)
	for {
		snap := m.Snapshot(context.Background())
		if snap.Available {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still unavailable after the driver answered: %+v", snap)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
