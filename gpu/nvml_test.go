//go:build cgo

package gpu

import (
	"errors"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
)

// mockLib is a go-nvml Interface with one device; withV2 says whether the
// library exports nvmlDeviceGetMemoryInfo_v2.
func mockLib(dev *mock.Device, withV2 bool) *mock.Interface {
	return &mock.Interface{
		InitFunc:     func() nvml.Return { return nvml.SUCCESS },
		ShutdownFunc: func() nvml.Return { return nvml.SUCCESS },
		ExtensionsFunc: func() nvml.ExtendedInterface {
			return &mock.ExtendedInterface{LookupSymbolFunc: func(name string) error {
				if name == "nvmlDeviceGetMemoryInfo_v2" && withV2 {
					return nil
				}
				return errors.New("undefined symbol " + name)
			}}
		},
		SystemGetDriverVersionFunc: func() (string, nvml.Return) { return "570.86.15", nvml.SUCCESS },
		DeviceGetCountFunc:         func() (int, nvml.Return) { return 1, nvml.SUCCESS },
		DeviceGetHandleByIndexFunc: func(int) (nvml.Device, nvml.Return) { return dev, nvml.SUCCESS },
	}
}

func mockDevice() *mock.Device {
	return &mock.Device{
		GetNameFunc: func() (string, nvml.Return) { return "NVIDIA H200", nvml.SUCCESS },
		GetUUIDFunc: func() (string, nvml.Return) { return "GPU-5e0f", nvml.SUCCESS },
		GetMemoryInfoFunc: func() (nvml.Memory, nvml.Return) {
			return nvml.Memory{Total: 80 * gib, Used: 11 * gib, Free: 69 * gib}, nvml.SUCCESS
		},
		GetComputeRunningProcessesFunc: func() ([]nvml.ProcessInfo, nvml.Return) {
			return []nvml.ProcessInfo{
				{Pid: 100, UsedGpuMemory: 6 * gib},
				{Pid: 101, UsedGpuMemory: ^uint64(0)}, // NVML_VALUE_NOT_AVAILABLE
			}, nvml.SUCCESS
		},
		GetGraphicsRunningProcessesFunc: func() ([]nvml.ProcessInfo, nvml.Return) {
			return []nvml.ProcessInfo{{Pid: 100, UsedGpuMemory: 6 * gib}, {Pid: 200, UsedGpuMemory: 512 * mib}}, nvml.SUCCESS
		},
	}
}

func TestNVMLDriverPrefersMemoryInfoV2(t *testing.T) {
	dev := mockDevice()
	dev.GetMemoryInfo_v2Func = func() (nvml.Memory_v2, nvml.Return) {
		return nvml.Memory_v2{Total: 80 * gib, Reserved: gib, Used: 10 * gib, Free: 69 * gib}, nvml.SUCCESS
	}
	drv := &nvmlDriver{lib: mockLib(dev, true)}
	if err := drv.Init(); err != nil {
		t.Fatal(err)
	}
	devs, err := drv.Devices()
	if err != nil {
		t.Fatal(err)
	}
	d := devs[0]
	if d.Name != "NVIDIA H200" || d.UUID != "GPU-5e0f" || d.TotalBytes != 80*gib || d.UsedBytes != 10*gib || d.FreeBytes != 69*gib {
		t.Errorf("device = %+v, want v2's numbers", d)
	}
	if len(dev.GetMemoryInfoCalls()) != 0 {
		t.Error("v1 called although v2 answered")
	}
	want := []Process{{PID: 100, UsedBytes: 6 * gib}, {PID: 101}, {PID: 200, UsedBytes: 512 * mib}}
	if len(d.Processes) != len(want) {
		t.Fatalf("processes = %+v, want %+v", d.Processes, want)
	}
	for i := range want {
		if d.Processes[i] != want[i] {
			t.Errorf("process %d = %+v, want %+v", i, d.Processes[i], want[i])
		}
	}
	if v, err := drv.DriverVersion(); err != nil || v != "570.86.15" {
		t.Errorf("DriverVersion = %q, %v", v, err)
	}
}

func TestNVMLDriverFallsBackToMemoryInfo(t *testing.T) {
	t.Run("symbol missing", func(t *testing.T) {
		// GetMemoryInfo_v2Func is nil: the mock panics if it is called.
		dev := mockDevice()
		drv := &nvmlDriver{lib: mockLib(dev, false)}
		if err := drv.Init(); err != nil {
			t.Fatal(err)
		}
		devs, err := drv.Devices()
		if err != nil || devs[0].UsedBytes != 11*gib || devs[0].FreeBytes != 69*gib {
			t.Fatalf("devices = %+v, %v; want v1's numbers", devs, err)
		}
	})
	t.Run("v2 refused", func(t *testing.T) {
		dev := mockDevice()
		dev.GetMemoryInfo_v2Func = func() (nvml.Memory_v2, nvml.Return) { return nvml.Memory_v2{}, nvml.ERROR_NOT_SUPPORTED }
		drv := &nvmlDriver{lib: mockLib(dev, true)}
		if err := drv.Init(); err != nil {
			t.Fatal(err)
		}
		devs, err := drv.Devices()
		if err != nil || devs[0].UsedBytes != 11*gib || len(dev.GetMemoryInfo_v2Calls()) != 1 {
			t.Fatalf("devices = %+v, %v; want v1 after v2 failed", devs, err)
		}
	})
}

func TestNVMLDriverErrors(t *testing.T) {
	dev := mockDevice()
	dev.GetGraphicsRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { return nil, nvml.ERROR_NOT_SUPPORTED }
	dev.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) { return nvml.Memory{}, nvml.ERROR_GPU_IS_LOST }
	lib := mockLib(dev, false)
	drv := &nvmlDriver{lib: lib}
	if err := drv.Init(); err != nil {
		t.Fatal(err)
	}
	if _, err := drv.Devices(); err == nil || !errors.Is(err, nvml.ERROR_GPU_IS_LOST) || !strings.Contains(err.Error(), "device 0") {
		t.Fatalf("memory failure: err = %v", err)
	}
	if ps := processes(dev); len(ps) != 2 {
		t.Errorf("graphics list refused: processes = %+v, want the compute ones", ps)
	}
	lib.InitFunc = func() nvml.Return { return nvml.ERROR_DRIVER_NOT_LOADED }
	if err := drv.Init(); !errors.Is(err, nvml.ERROR_DRIVER_NOT_LOADED) {
		t.Fatalf("Init = %v", err)
	}
}

// On a host without libnvidia-ml.so.1 the real driver must fail cleanly.
func TestRealNVMLWithoutLibrary(t *testing.T) {
	log, rec := newLogger()
	m := NewMonitor(NewNVML(), log)
	defer m.Close()
	s := m.Snapshot(t.Context())
	if s.Available {
		t.Skipf("NVML is present here (%d devices, driver %s)", len(s.Devices), s.DriverVersion)
	}
	if !strings.HasPrefix(s.Reason, "no NVML") && !strings.Contains(s.Reason, "0 devices") {
		t.Errorf("reason = %q", s.Reason)
	}
	m.Snapshot(t.Context())
	if rec.count("NVML unavailable") != 1 {
		t.Errorf("logged %d times", rec.count("NVML unavailable"))
	}
	t.Logf("reason: %s", s.Reason)
}
