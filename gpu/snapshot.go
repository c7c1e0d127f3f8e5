// Package gpu reads NVIDIA GPUs through NVML (devices, total/used/free VRAM,
// per-process use mapped to container IDs) and owns the staggering gate that
// lets GPU services start, stop and restart one at a time once the previous
// one's VRAM use has settled and enough VRAM is free.
//
// Without NVML (no library, no driver, no GPU, or a build without cgo) the
// package degrades to "unavailable": it logs once and the gate lets every
// request through.
package gpu

import (
	"context"
	"fmt"
	"strings"
)

// Snapshot is one reading of every GPU on the host.
type Snapshot struct {
	// Available is false when NVML could not be used; Reason says why.
	Available     bool
	Reason        string
	DriverVersion string
	Devices       []Device
}

// Device is one GPU as NVML numbers it.
type Device struct {
	Index      int
	UUID       string
	Name       string
	TotalBytes uint64
	UsedBytes  uint64
	FreeBytes  uint64
	// Processes are the compute and graphics processes holding memory on
	// this device; a PID that appears in both lists appears here once.
	Processes []Process
}

// Process is one process's use of one device.
type Process struct {
	PID int
	// UsedBytes is 0 when the driver does not report it (NVML answers
	// "not available", e.g. without the right to see other processes).
	UsedBytes uint64
	// ContainerID is the 64-hex ID found in the process's cgroup path, or
	// "" when the process is not in a container (or has exited).
	ContainerID string
}

// SnapshotSource is what the gate reads; *Monitor is the real one.
type SnapshotSource interface {
	Snapshot(ctx context.Context) Snapshot
}

// UsageByContainer sums per-process use by container ID over all devices.
// Processes outside containers are left out. The supervisor uses it to learn
// a service's VRAM need outside a settle.
func (s Snapshot) UsageByContainer() map[string]uint64 {
	use := map[string]uint64{}
	for _, d := range s.Devices {
		for _, p := range d.Processes {
			if p.ContainerID != "" {
				use[p.ContainerID] += p.UsedBytes
			}
		}
	}
	return use
}

// device finds a device by NVML index ("0") or UUID ("GPU-...").
func (s Snapshot) device(ref string) (Device, bool) {
	for _, d := range s.Devices {
		if d.UUID == ref || fmt.Sprint(d.Index) == ref {
			return d, true
		}
	}
	return Device{}, false
}

// formatBytes renders sizes the way the status shows them: "16.0 GiB",
// "512 MiB".
func formatBytes(b uint64) string {
	const mib, gib = 1 << 20, 1 << 30
	if b >= gib {
		return fmt.Sprintf("%.1f GiB", float64(b)/gib)
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/mib)
}

func joinDevices(ds []Device) string {
	idx := make([]string, len(ds))
	for i, d := range ds {
		idx[i] = fmt.Sprint(d.Index)
	}
	return strings.Join(idx, ",")
}
