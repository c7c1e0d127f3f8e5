//go:build cgo

package gpu

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// NewNVML returns the Driver backed by the host's libnvidia-ml.so.1, loaded
// with dlopen on Init. On a host without the library Init fails with
// ERROR_LIBRARY_NOT_FOUND; nothing else is touched before that.
func NewNVML() Driver { return &nvmlDriver{lib: nvml.New()} }

type nvmlDriver struct {
	lib nvml.Interface
	// memV2 is whether the loaded library exports nvmlDeviceGetMemoryInfo_v2
	// (drivers >= 510). go-nvml calls symbols directly, so calling a missing
	// one would jump to nil instead of returning an error.
	memV2 bool
}

func (d *nvmlDriver) Init() error {
	if ret := d.lib.Init(); ret != nvml.SUCCESS {
		return fmt.Errorf("nvml init: %w", ret)
	}
	d.memV2 = d.lib.Extensions().LookupSymbol("nvmlDeviceGetMemoryInfo_v2") == nil
	return nil
}

func (d *nvmlDriver) Shutdown() error {
	if ret := d.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("nvml shutdown: %w", ret)
	}
	return nil
}

func (d *nvmlDriver) DriverVersion() (string, error) {
	v, ret := d.lib.SystemGetDriverVersion()
	if ret != nvml.SUCCESS {
		return "", fmt.Errorf("driver version: %w", ret)
	}
	return v, nil
}

func (d *nvmlDriver) Devices() ([]Device, error) {
	n, ret := d.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("device count: %w", ret)
	}
	devs := make([]Device, 0, n)
	for i := range n {
		h, ret := d.lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("device %d: handle: %w", i, ret)
		}
		dev, err := d.device(i, h)
		if err != nil {
			return nil, err
		}
		devs = append(devs, dev)
	}
	return devs, nil
}

func (d *nvmlDriver) device(i int, h nvml.Device) (Device, error) {
	dev := Device{Index: i}
	// Name and UUID are labels; a driver that refuses them still has memory.
	if name, ret := h.GetName(); ret == nvml.SUCCESS {
		dev.Name = name
	}
	if uuid, ret := h.GetUUID(); ret == nvml.SUCCESS {
		dev.UUID = uuid
	}
	total, used, free, err := d.memory(h)
	if err != nil {
		return Device{}, fmt.Errorf("device %d: %w", i, err)
	}
	dev.TotalBytes, dev.UsedBytes, dev.FreeBytes = total, used, free
	dev.Processes = processes(h)
	return dev, nil
}

// memory prefers the v2 call: v1's "used" includes the memory the driver
// reserves for itself, v2 reports that apart, so v2's used is what processes
// hold. Free is the same in both.
func (d *nvmlDriver) memory(h nvml.Device) (total, used, free uint64, err error) {
	if d.memV2 {
		m, ret := h.GetMemoryInfo_v2()
		if ret == nvml.SUCCESS {
			return m.Total, m.Used, m.Free, nil
		}
	}
	m, ret := h.GetMemoryInfo()
	if ret != nvml.SUCCESS {
		return 0, 0, 0, fmt.Errorf("memory info: %w", ret)
	}
	return m.Total, m.Used, m.Free, nil
}

// processes merges the compute and graphics lists. A process using both
// engines is listed in both with the same allocation, so it is counted once
// (the larger figure). A list the driver refuses (NOT_SUPPORTED on some
// boards, NO_PERMISSION) is left out, not an error: device totals still work.
func processes(h nvml.Device) []Process {
	var out []Process
	seen := map[uint32]int{}
	add := func(infos []nvml.ProcessInfo, ret nvml.Return) {
		if ret != nvml.SUCCESS {
			return
		}
		for _, p := range infos {
			used := p.UsedGpuMemory
			// NVML_VALUE_NOT_AVAILABLE is (unsigned long long)-1.
			if used == ^uint64(0) {
				used = 0
			}
			if i, ok := seen[p.Pid]; ok {
				out[i].UsedBytes = max(out[i].UsedBytes, used)
				continue
			}
			seen[p.Pid] = len(out)
			out = append(out, Process{PID: int(p.Pid), UsedBytes: used})
		}
	}
	add(h.GetComputeRunningProcesses())
	add(h.GetGraphicsRunningProcesses())
	return out
}
