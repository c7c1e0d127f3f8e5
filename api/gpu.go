package api

import (
	"context"
	"strings"
	"time"

	"github.com/hostagent/hostagent/gpu"
	"github.com/hostagent/hostagent/supervisor"
)

// gpuBody is /api/system/gpu: NVML's view plus what waits for the GPU lane.
type gpuBody struct {
	Available     bool        `json:"available"`
	Reason        string      `json:"reason,omitempty"`
	DriverVersion string      `json:"driver_version,omitempty"`
	Devices       []gpuDevice `json:"devices,omitempty"`
	Waiting       []gpuWait   `json:"waiting,omitempty"`
}

type gpuDevice struct {
	Index      int          `json:"index"`
	UUID       string       `json:"uuid"`
	Name       string       `json:"name"`
	TotalBytes uint64       `json:"total_bytes"`
	UsedBytes  uint64       `json:"used_bytes"`
	FreeBytes  uint64       `json:"free_bytes"`
	TotalMB    uint64       `json:"total_mb"`
	UsedMB     uint64       `json:"used_mb"`
	FreeMB     uint64       `json:"free_mb"`
	Processes  []gpuProcess `json:"processes"`
}

type gpuProcess struct {
	PID         int    `json:"pid"`
	UsedBytes   uint64 `json:"used_bytes"`
	ContainerID string `json:"container_id,omitempty"`
	// Service is the stack service whose container holds the memory.
	Service string `json:"service,omitempty"`
}

type gpuWait struct {
	Service string    `json:"service"`
	Op      string    `json:"op"`
	Reason  string    `json:"reason"`
	Since   time.Time `json:"since"`
}

const noGPUSource = "GPU monitoring is not configured in this agent"

func (s *Server) gpuStatus(ctx context.Context, svcs []supervisor.ServiceStatus) gpuBody {
	var b gpuBody
	if s.opts.GPUGate != nil {
		for _, w := range s.opts.GPUGate.Waiting() {
			b.Waiting = append(b.Waiting, gpuWait{Service: w.Service, Op: w.Op.String(), Reason: w.Reason, Since: w.Since})
		}
	}
	if s.opts.GPU == nil {
		b.Reason = noGPUSource
		return b
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.GPUTimeout)
	defer cancel()
	snap := s.opts.GPU.Snapshot(ctx)
	b.Available, b.Reason, b.DriverVersion = snap.Available, snap.Reason, snap.DriverVersion
	if !snap.Available && b.Reason == "" {
		b.Reason = "NVML unavailable"
	}
	for _, d := range snap.Devices {
		gd := gpuDevice{Index: d.Index, UUID: d.UUID, Name: d.Name,
			TotalBytes: d.TotalBytes, UsedBytes: d.UsedBytes, FreeBytes: d.FreeBytes,
			TotalMB: d.TotalBytes >> 20, UsedMB: d.UsedBytes >> 20, FreeMB: d.FreeBytes >> 20,
			Processes: []gpuProcess{}}
		for _, p := range d.Processes {
			gd.Processes = append(gd.Processes, gpuProcess{PID: p.PID, UsedBytes: p.UsedBytes,
				ContainerID: p.ContainerID, Service: serviceOfContainer(svcs, p.ContainerID)})
		}
		b.Devices = append(b.Devices, gd)
	}
	return b
}

// serviceOfContainer maps NVML's full container ID to the service whose
// (short) container ID it starts with.
func serviceOfContainer(svcs []supervisor.ServiceStatus, id string) string {
	if id == "" {
		return ""
	}
	for _, s := range svcs {
		if s.ContainerID != "" && strings.HasPrefix(id, s.ContainerID) {
			return s.Name
		}
	}
	return ""
}

var _ gpu.SnapshotSource = (*gpu.Monitor)(nil)
