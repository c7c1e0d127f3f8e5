package api

import (
	"context"
	"net/http"
	"testing"

	"github.com/hostagent/hostagent/supervisor"
)

// detailSup is fakeSup with service details.
type detailSup struct{ *fakeSup }

func (d detailSup) Detail(name string) (supervisor.ServiceDetail, bool) {
	st, ok := d.Service(name)
	if !ok {
		return supervisor.ServiceDetail{}, false
	}
	return supervisor.ServiceDetail{ServiceStatus: st, RestartPolicy: "always", MaxFailures: 10,
		Probes:  []supervisor.ProbeRecord{{At: t0, Result: supervisor.ProbeFailing, Output: "HTTP 503", LatencyMS: 2.5}},
		GPULane: &supervisor.GPULane{Devices: []string{"0"}, State: supervisor.LaneQueued, Reason: "queued behind ai-llm"}}, true
}

// GET /api/system/services/{name} is the detail: the status's fields, flat
// as before, and the checks, policy and GPU lane beside them.
func TestServiceDetail(t *testing.T) {
	f := newFakeSup()
	s, err := New(detailSup{f}, StaticToken(testToken), quietLogger(), Options{Clock: f.clk, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	w := do(t, h, "GET", "/api/system/services/redis", "")
	wantCode(t, w, http.StatusOK)
	got := decode[supervisor.ServiceDetail](t, w.Body.Bytes())
	if got.Name != "redis" || got.DisplayName != "Redis" || got.Status != supervisor.Running {
		t.Errorf("status fields = %+v", got.ServiceStatus)
	}
	if len(got.Probes) != 1 || got.Probes[0].Output != "HTTP 503" || got.Probes[0].Result != supervisor.ProbeFailing {
		t.Errorf("probes = %+v", got.Probes)
	}
	if got.RestartPolicy != "always" || got.GPULane == nil || got.GPULane.State != supervisor.LaneQueued {
		t.Errorf("policy %q, lane %+v", got.RestartPolicy, got.GPULane)
	}
	raw := decode[map[string]any](t, w.Body.Bytes())
	for _, k := range []string{"name", "status", "failure_count", "restart_count", "probes", "restart_policy"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("detail lacks %q: %v", k, raw)
		}
	}
	wantCode(t, do(t, h, "GET", "/api/system/services/nope", ""), http.StatusNotFound)
	_ = s.Shutdown(context.Background())
}
