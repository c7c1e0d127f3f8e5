package compose

import (
	"reflect"
	"slices"
	"testing"
)

// One reading of a service's GPU asks: what the gate sees (GPU, Lanes)
// and what the engine attaches (GPURequests, their CDI names, CDIDevices).
func TestGPURequests(t *testing.T) {
	reserve := func(device string) string {
		return "deploy: {resources: {reservations: {devices: [" + device + "]}}}"
	}
	gpu := []string{"gpu"}
	cases := []struct {
		name     string
		lines    string // the service's GPU lines
		requests []GPURequest
		cdi      []string // CDI names attached for the requests
		devices  []string // CDI names under devices:
		need     GPUNeed
		lanes    []string
	}{
		{"capability gpu", reserve("{capabilities: [gpu], count: 1}"),
			[]GPURequest{{Count: 1, Capabilities: gpu}}, []string{"nvidia.com/gpu=0"}, nil,
			GPUNeed{Required: true, Count: 1}, []string{"0"}},
		// compose-go reads neither count nor device_ids as count: all.
		{"capability gpu, neither count nor ids", reserve("{capabilities: [gpu]}"),
			[]GPURequest{{Count: -1, Capabilities: gpu}}, []string{"nvidia.com/gpu=all"}, nil,
			GPUNeed{Required: true, Count: -1}, nil},
		{"driver nvidia, count 2", reserve("{driver: nvidia, count: 2, capabilities: [gpu]}"),
			[]GPURequest{{Driver: "nvidia", Count: 2, Capabilities: gpu}}, []string{"nvidia.com/gpu=0", "nvidia.com/gpu=1"}, nil,
			GPUNeed{Required: true, Count: 2}, []string{"0", "1"}},
		{"driver nvidia, device_ids", reserve("{driver: nvidia, device_ids: ['1', '3'], capabilities: [gpu]}"),
			[]GPURequest{{Driver: "nvidia", DeviceIDs: []string{"1", "3"}, Capabilities: gpu}}, []string{"nvidia.com/gpu=1", "nvidia.com/gpu=3"}, nil,
			GPUNeed{Required: true, DeviceIDs: []string{"1", "3"}}, []string{"1", "3"}},
		{"driver cdi, full CDI names", reserve("{driver: cdi, device_ids: ['nvidia.com/gpu=1', 'nvidia.com/gpu=2'], capabilities: [gpu]}"),
			[]GPURequest{{Driver: "cdi", DeviceIDs: []string{"nvidia.com/gpu=1", "nvidia.com/gpu=2"}, Capabilities: gpu}},
			[]string{"nvidia.com/gpu=1", "nvidia.com/gpu=2"}, nil,
			GPUNeed{Required: true, DeviceIDs: []string{"1", "2"}}, []string{"1", "2"}},
		{"driver cdi, all", reserve("{driver: cdi, device_ids: ['nvidia.com/gpu=all'], capabilities: [gpu]}"),
			[]GPURequest{{Driver: "cdi", DeviceIDs: []string{"nvidia.com/gpu=all"}, Capabilities: gpu}}, []string{"nvidia.com/gpu=all"}, nil,
			GPUNeed{Required: true, Count: -1}, nil},
		{"driver cdi, bare id", reserve("{driver: cdi, device_ids: ['2'], capabilities: [gpu]}"),
			[]GPURequest{{Driver: "cdi", DeviceIDs: []string{"2"}, Capabilities: gpu}}, []string{"nvidia.com/gpu=2"}, nil,
			GPUNeed{Required: true, DeviceIDs: []string{"2"}}, []string{"2"}},
		{"gpus: all", "gpus: all",
			[]GPURequest{{Driver: "nvidia", Count: -1, Capabilities: gpu}}, []string{"nvidia.com/gpu=all"}, nil,
			GPUNeed{Required: true, Count: -1}, nil},
		{"gpus: device_ids", "gpus: [{device_ids: ['2']}]",
			[]GPURequest{{Driver: "nvidia", DeviceIDs: []string{"2"}, Capabilities: gpu}}, []string{"nvidia.com/gpu=2"}, nil,
			GPUNeed{Required: true, DeviceIDs: []string{"2"}}, []string{"2"}},
		{"CDI names under devices", "devices: ['nvidia.com/gpu=1', 'vendor.com/fpga=0', '/dev/null:/dev/null']",
			nil, nil, []string{"nvidia.com/gpu=1", "vendor.com/fpga=0"},
			GPUNeed{Required: true, DeviceIDs: []string{"1"}}, []string{"1"}},
		{"a CDI device that is not a GPU", "devices: ['vendor.com/fpga=0']",
			nil, nil, []string{"vendor.com/fpga=0"}, GPUNeed{}, nil},
		{"a device request that is not a GPU", reserve("{capabilities: [tpu], count: 1}"),
			nil, nil, nil, GPUNeed{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := loadYAML(t, "services:\n  ai:\n    image: x\n    "+tc.lines+"\n")
			ai, _ := st.Service("ai")
			reqs := ai.GPURequests()
			if !reflect.DeepEqual(reqs, tc.requests) {
				t.Errorf("GPURequests = %+v, want %+v", reqs, tc.requests)
			}
			var cdi []string
			for _, r := range reqs {
				cdi = append(cdi, r.CDINames()...)
			}
			if !slices.Equal(cdi, tc.cdi) {
				t.Errorf("CDI names %v, want %v", cdi, tc.cdi)
			}
			if got := ai.CDIDevices(); !slices.Equal(got, tc.devices) {
				t.Errorf("CDIDevices = %v, want %v", got, tc.devices)
			}
			if !reflect.DeepEqual(ai.GPU, tc.need) {
				t.Errorf("GPU = %+v, want %+v", ai.GPU, tc.need)
			}
			if got := ai.GPU.Lanes(); !slices.Equal(got, tc.lanes) {
				t.Errorf("Lanes = %v, want %v", got, tc.lanes)
			}
		})
	}
}
