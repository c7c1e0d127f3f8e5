package engine

import (
	"github.com/docker/docker/api/types/container"

	"github.com/hostagent/hostagent/compose"
)

// gpus attaches what compose reads as the service's GPU asks
// (compose.Service.GPURequests) and the CDI devices it names under
// `devices:` (compose.Service.CDIDevices), so what the gate serialises is
// what is attached.
//
// Docker: device requests (driver nvidia as written; driver cdi with full
// CDI names; CDI names from `devices:` as one driver "cdi" request).
// Podman: CDI device names in sp.cdi, which only the libpod create
// endpoint attaches (see libpod_spec.go): compose.GPURequest.CDINames, then
// the names from `devices:`.
func (sp *spec) gpus(svc compose.Service, r *container.Resources, podman bool) {
	for _, req := range svc.GPURequests() {
		if podman {
			sp.cdi = append(sp.cdi, req.CDINames()...)
			continue
		}
		r.DeviceRequests = append(r.DeviceRequests, deviceRequest(req))
	}
	named := svc.CDIDevices()
	if len(named) == 0 {
		return
	}
	if podman {
		sp.cdi = append(sp.cdi, named...)
		return
	}
	r.DeviceRequests = append(r.DeviceRequests, container.DeviceRequest{Driver: "cdi", DeviceIDs: named})
}

// deviceRequest is Docker's form of a GPU request. Docker's cdi driver
// takes full CDI names only, so a bare id under driver cdi is named as
// the NVIDIA GPU compose reads it as.
func deviceRequest(req compose.GPURequest) container.DeviceRequest {
	dr := container.DeviceRequest{
		Driver: req.Driver, Count: req.Count, DeviceIDs: req.DeviceIDs,
		Capabilities: [][]string{req.Capabilities}, Options: req.Options,
	}
	if req.IsCDI() && len(req.DeviceIDs) > 0 {
		dr.DeviceIDs = req.CDINames()
	}
	if dr.Count == 0 && len(dr.DeviceIDs) == 0 {
		dr.Count = -1 // the compose spec: neither count nor ids means all
	}
	return dr
}
