package compose

import (
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// CDIGPUPrefix starts the CDI name of an NVIDIA GPU: nvidia.com/gpu=0.
const CDIGPUPrefix = "nvidia.com/gpu="

// GPURequest is one ask for GPUs in a service's definition: a deploy
// device reservation that IsGPURequest accepts, or a `gpus:` entry. It is
// read once, here, for both the GPU gate (Service.GPU) and the engine
// adapter (what it attaches), so what is gated is what is attached.
type GPURequest struct {
	// Driver as written; a `gpus:` entry without one means "nvidia".
	Driver string
	// Count as written: -1 is all; 0 without DeviceIDs is all too (the
	// compose spec).
	Count int
	// DeviceIDs as written: GPU indices or UUIDs, or full CDI names
	// (driver cdi), where a bare id means an NVIDIA GPU.
	DeviceIDs []string
	// Capabilities as written; a `gpus:` entry without any asks for gpu.
	Capabilities []string
	Options      map[string]string
}

// GPURequests are the service's asks for GPUs: its deploy device
// reservations that ask for a GPU, then its `gpus:` entries. GPUs named by
// CDI under `devices:` are in CDIDevices.
func (s Service) GPURequests() []GPURequest {
	sc := s.Config
	var out []GPURequest
	if sc.Deploy != nil && sc.Deploy.Resources.Reservations != nil {
		for _, r := range sc.Deploy.Resources.Reservations.Devices {
			if IsGPURequest(r) {
				out = append(out, gpuRequest(r))
			}
		}
	}
	for _, r := range sc.Gpus {
		// `gpus:` means NVIDIA GPUs, as in docker compose.
		if r.Driver == "" {
			r.Driver = "nvidia"
		}
		if len(r.Capabilities) == 0 {
			r.Capabilities = []string{"gpu"}
		}
		out = append(out, gpuRequest(r))
	}
	return out
}

func gpuRequest(r types.DeviceRequest) GPURequest {
	return GPURequest{Driver: r.Driver, Count: int(r.Count), DeviceIDs: r.IDs, Capabilities: r.Capabilities, Options: r.Options}
}

// IsGPURequest reports whether a compose device request asks for a GPU:
// capability gpu, or driver nvidia or cdi.
func IsGPURequest(r types.DeviceRequest) bool {
	if strings.EqualFold(r.Driver, "nvidia") || strings.EqualFold(r.Driver, "cdi") {
		return true
	}
	for _, c := range r.Capabilities {
		if strings.EqualFold(c, "gpu") {
			return true
		}
	}
	return false
}

// IsCDI reports whether the request names its devices by CDI (driver cdi).
func (r GPURequest) IsCDI() bool { return strings.EqualFold(r.Driver, "cdi") }

// CDINames are the CDI devices that give a container what r asks for:
// one per device id (a full CDI name as written, a bare id as an NVIDIA
// GPU), else GPUs 0..count-1, else nvidia.com/gpu=all.
func (r GPURequest) CDINames() []string {
	switch {
	case len(r.DeviceIDs) > 0:
		out := make([]string, 0, len(r.DeviceIDs))
		for _, id := range r.DeviceIDs {
			if !IsCDIName(id) {
				id = CDIGPUPrefix + id
			}
			out = append(out, id)
		}
		return out
	case r.Count > 0:
		out := make([]string, 0, r.Count)
		for i := range r.Count {
			out = append(out, CDIGPUPrefix+strconv.Itoa(i))
		}
		return out
	}
	// count: all (-1), or a reservation without a count.
	return []string{CDIGPUPrefix + "all"}
}

// CDIDevices are the fully qualified CDI names under `devices:`, which
// the engine attaches as CDI devices; the NVIDIA GPUs among them
// (CDIGPUPrefix) are GPU asks.
func (s Service) CDIDevices() []string {
	var out []string
	for _, d := range s.Config.Devices {
		if IsCDIName(d.Source) {
			out = append(out, d.Source)
		}
	}
	return out
}

// IsCDIName: a fully qualified CDI device name, vendor.com/class=name, as
// opposed to a device path.
func IsCDIName(s string) bool {
	kind, name, ok := strings.Cut(s, "=")
	return ok && name != "" && !strings.HasPrefix(s, "/") && strings.Contains(kind, "/")
}

// gpuNeed sums up what the service asks of the GPUs: its GPURequests and
// the NVIDIA GPUs among its CDIDevices.
func (s Service) gpuNeed() GPUNeed {
	var need GPUNeed
	for _, r := range s.GPURequests() {
		need.Required = true
		need.addIDs(r.DeviceIDs)
		switch {
		case r.Count < 0, r.Count == 0 && len(r.DeviceIDs) == 0:
			// The compose spec: neither count nor device_ids means all GPUs.
			need.Count = -1
		case need.Count >= 0:
			need.Count += r.Count
		}
	}
	for _, name := range s.CDIDevices() {
		if strings.HasPrefix(name, CDIGPUPrefix) {
			need.Required = true
			need.addIDs([]string{name})
		}
	}
	if need.Required && need.Count == 0 && len(need.DeviceIDs) == 0 {
		need.Count = 1
	}
	return need
}

// addIDs adds GPUs named by index, UUID or NVIDIA CDI name; "all" asks
// for every GPU.
func (g *GPUNeed) addIDs(ids []string) {
	for _, id := range ids {
		id = strings.TrimPrefix(id, CDIGPUPrefix)
		if id == "all" {
			g.Count = -1
			continue
		}
		g.DeviceIDs = append(g.DeviceIDs, id)
	}
}

// Lanes are the GPUs the service is given, by index or UUID as the compose
// file names them: its device_ids, else indices 0..count-1 (the CDI names
// the engine attaches for a count). Nil means every GPU (count: all).
func (g GPUNeed) Lanes() []string {
	if !g.Required {
		return nil
	}
	if len(g.DeviceIDs) > 0 {
		return g.DeviceIDs
	}
	if g.Count <= 0 {
		return nil
	}
	out := make([]string, g.Count)
	for i := range out {
		out[i] = strconv.Itoa(i)
	}
	return out
}
