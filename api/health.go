package api

import (
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/supervisor"
)

// Overall health words of /api/system/health.
const (
	Healthy   = "healthy"
	Degraded  = "degraded"
	Unhealthy = "unhealthy"
)

// Counts is how many services are in each state.
type Counts struct {
	Total     int `json:"total"`
	Running   int `json:"running"`
	Starting  int `json:"starting"`
	Unhealthy int `json:"unhealthy"`
	Stopped   int `json:"stopped"`
	Disabled  int `json:"disabled"`
	NotFound  int `json:"not_found"`
}

func countStatuses(svcs []supervisor.ServiceStatus) Counts {
	c := Counts{Total: len(svcs)}
	for _, s := range svcs {
		switch s.Status {
		case supervisor.Running:
			c.Running++
		case supervisor.Starting:
			c.Starting++
		case supervisor.Unhealthy:
			c.Unhealthy++
		case supervisor.Stopped:
			c.Stopped++
		case supervisor.Disabled:
			c.Disabled++
		default:
			c.NotFound++
		}
	}
	return c
}

// overall rates the stack: healthy when every service runs; unhealthy when
// nothing runs or a core data-infrastructure service (the database, the
// cache everything else needs) is down; degraded otherwise, including
// services disabled by hand.
func overall(svcs []supervisor.ServiceStatus) string {
	if len(svcs) == 0 {
		return Unhealthy
	}
	running := 0
	infraDown := false
	for _, s := range svcs {
		if s.Status == supervisor.Running {
			running++
			continue
		}
		if s.Track == string(compose.TrackCore) && s.Category == compose.Infrastructure.String() {
			infraDown = true
		}
	}
	switch {
	case running == len(svcs):
		return Healthy
	case running == 0 || infraDown:
		return Unhealthy
	}
	return Degraded
}

// rate is overall with the host taken into account: while the engine
// cannot start any container (Progress.HostCondition) the stack is at best
// degraded, and the condition is the reason, said once for the host.
func rate(svcs []supervisor.ServiceStatus, p supervisor.Progress) (status, reason string) {
	status = overall(svcs)
	if p.HostCondition == "" {
		return status, ""
	}
	if status == Healthy {
		status = Degraded
	}
	return status, p.HostCondition
}

type healthBody struct {
	Status string `json:"status"`
	// Reason says why, when the cause is the host's rather than a
	// service's (the engine cannot start containers).
	Reason    string    `json:"reason,omitempty"`
	Services  Counts    `json:"services"`
	Timestamp time.Time `json:"timestamp"`
}

// notReady is one core service that keeps the stack from being ready.
type notReady struct {
	Name       string            `json:"name"`
	Status     supervisor.Status `json:"status"`
	Enabled    bool              `json:"enabled"`
	Detail     string            `json:"detail,omitempty"`
	WaitingFor []string          `json:"waiting_for,omitempty"`
}

type readyBody struct {
	Ready  bool   `json:"ready"`
	Status string `json:"status"`
	// Services maps every core service to its status.
	Services  map[string]supervisor.Status `json:"services"`
	NotReady  []notReady                   `json:"not_ready,omitempty"`
	Progress  supervisor.Progress          `json:"progress"`
	Timestamp time.Time                    `json:"timestamp"`
}

// readiness: ready once bring-up is done and every enabled core service is
// running. Monitoring never gates readiness, and a service disabled by hand
// is not waited for.
func readiness(svcs []supervisor.ServiceStatus, p supervisor.Progress, now time.Time) readyBody {
	b := readyBody{Services: map[string]supervisor.Status{}, Progress: p, Timestamp: now}
	for _, s := range svcs {
		if s.Track != string(compose.TrackCore) {
			continue
		}
		b.Services[s.Name] = s.Status
		if s.Enabled && s.Status != supervisor.Running {
			b.NotReady = append(b.NotReady, notReady{Name: s.Name, Status: s.Status, Enabled: s.Enabled, Detail: s.Detail, WaitingFor: s.WaitingFor})
		}
	}
	b.Ready = p.Done && len(b.NotReady) == 0
	b.Status = "ready"
	if !b.Ready {
		b.Status = "not_ready"
	}
	return b
}

type fullBody struct {
	Status    string                     `json:"status"`
	Reason    string                     `json:"reason,omitempty"`
	Counts    Counts                     `json:"counts"`
	Services  []supervisor.ServiceStatus `json:"services"`
	Progress  supervisor.Progress        `json:"progress"`
	GPU       gpuBody                    `json:"gpu"`
	Timestamp time.Time                  `json:"timestamp"`
}
