package api

import (
	"net/http"
	"testing"

	"github.com/hostagent/hostagent/supervisor"
)

// An engine that cannot start containers is the reason /health gives,
// once for the host, on /health and /health/full alike.
func TestHealthNamesTheHostCondition(t *testing.T) {
	const why = "engine cannot start containers: netavark: No such file or directory (os error 2)"
	f := newFakeSup()
	for _, n := range []string{"postgres", "redis", "ai-yolo26", "backend", "prometheus"} {
		f.set(n, func(s *supervisor.ServiceStatus) { s.Status, s.Detail = supervisor.NotFound, why })
	}
	f.mu.Lock()
	f.progress = supervisor.Progress{Phase: 1, Phases: 3, Total: 5, HostCondition: why}
	f.mu.Unlock()
	h := newServer(t, f, Options{}).Handler()
	for _, path := range []string{"/api/system/health", "/api/system/health/full"} {
		w := do(t, h, "GET", path, "")
		wantCode(t, w, http.StatusOK)
		b := decode[struct {
			Status string `json:"status"`
			Reason string `json:"reason"`
		}](t, w.Body.Bytes())
		if b.Status != Unhealthy || b.Reason != why {
			t.Errorf("%s: status %q, reason %q; want %q and %q", path, b.Status, b.Reason, Unhealthy, why)
		}
	}

	// Adopted containers still run: degraded, and still the reason.
	f.mu.Lock()
	for i := range f.svcs {
		if f.svcs[i].Name != "backend" {
			f.svcs[i].Status, f.svcs[i].Detail = supervisor.Running, ""
		}
	}
	f.mu.Unlock()
	w := do(t, h, "GET", "/api/system/health", "")
	b := decode[struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}](t, w.Body.Bytes())
	if b.Status != Degraded || b.Reason != why {
		t.Errorf("one service refused: status %q, reason %q; want %q and %q", b.Status, b.Reason, Degraded, why)
	}

	// No condition: no reason.
	f.mu.Lock()
	f.progress = supervisor.Progress{Phase: 3, Phases: 3, Running: 4, Total: 5}
	f.mu.Unlock()
	w = do(t, h, "GET", "/api/system/health", "")
	if b := decode[map[string]any](t, w.Body.Bytes()); b["reason"] != nil {
		t.Errorf("reason %v without a host condition, want none", b["reason"])
	}
}
