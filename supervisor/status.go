package supervisor

import (
	"fmt"
	"strings"
	"time"

	"github.com/hostagent/hostagent/compose"
)

// Status is a service's state: one of the six below.
type Status int

const (
	NotFound Status = iota
	Stopped
	Starting
	Running
	Unhealthy
	Disabled
)

var statusNames = []string{"not_found", "stopped", "starting", "running", "unhealthy", "disabled"}

// String is the lower-case wire form ("running").
func (s Status) String() string {
	if s < 0 || int(s) >= len(statusNames) {
		return fmt.Sprintf("status(%d)", int(s))
	}
	return statusNames[s]
}

// Upper is the form tables show ("RUNNING").
func (s Status) Upper() string { return strings.ToUpper(s.String()) }

func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *Status) UnmarshalText(b []byte) error {
	for i, n := range statusNames {
		if strings.EqualFold(n, string(b)) {
			*s = Status(i)
			return nil
		}
	}
	return fmt.Errorf("unknown status %q", b)
}

// Event messages: the wording is part of the API (clients match on it),
// so it does not change.
const (
	MsgDiscovered       = "Service discovered"
	MsgRecovered        = "Service recovered"
	MsgHealthCheckFail  = "Health check failed"
	MsgManualRestart    = "Manual restart initiated"
	MsgRestartCompleted = "Restart completed"
	MsgRestartFailed    = "Restart failed"
	MsgMaxFailures      = "Service disabled - max failures reached"
	MsgEnabled          = "Service enabled"
	MsgDisabled         = "Service disabled"

	MsgWaiting          = "Waiting for dependencies"
	MsgRestartInitiated = "Restart initiated"
	MsgStarted          = "Service started"
	MsgHealthy          = "Service healthy"
	MsgStartFailed      = "Start failed"
	MsgContainerDied    = "Container stopped"
	MsgDependencyRest   = "Dependency restarted"
	MsgRecreated        = "Service recreated"
	MsgRemoved          = "Service removed"
	MsgCompleted        = "Service completed (exit 0)"
	// MsgHostCondition: the service cannot start for a reason of the
	// host's (its detail says which); it is retried, never disabled.
	MsgHostCondition = "Waiting for a host condition"
)

// DetailCompleted is the detail of a service whose work is done: a clean
// exit under restart no or on-failure (STOPPED, not a failure).
const DetailCompleted = "completed (exit 0)"

// ServiceStatus is one service as the API and WebSocket show it: the
// fields every client reads first, then the agent's own.
type ServiceStatus struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	Category    string `json:"category"`
	Status      Status `json:"status"`
	Enabled     bool   `json:"enabled"`
	ContainerID string `json:"container_id"`
	Image       string `json:"image"`
	Port        int    `json:"port,omitempty"`
	// Ports are every published port (compose ps's PORTS).
	Ports         []compose.Port `json:"ports,omitempty"`
	FailureCount  int            `json:"failure_count"`
	RestartCount  int            `json:"restart_count"`
	LastRestartAt *time.Time     `json:"last_restart_at"`
	UptimeSeconds int64          `json:"uptime_seconds"`
	StartedAt     *time.Time     `json:"started_at,omitempty"`

	Phase         int        `json:"phase"`
	Track         string     `json:"track"`
	GPU           bool       `json:"gpu"`
	HealthMethod  string     `json:"health_method"`
	WaitingFor    []string   `json:"waiting_for,omitempty"`
	Detail        string     `json:"detail,omitempty"`
	NextRestartAt *time.Time `json:"next_restart_at,omitempty"`
	LastCheckAt   *time.Time `json:"last_check_at,omitempty"`
	LastCheckOK   bool       `json:"last_check_ok"`
	LastCheckMS   float64    `json:"last_check_ms,omitempty"`
	LearnedVRAM   uint64     `json:"learned_vram_bytes,omitempty"`
}

// Event is the WebSocket message: {"type": "service_status", "data":
// ..., "message": ...}, with a sequence number and a time.
type Event struct {
	Type    string        `json:"type"`
	Data    ServiceStatus `json:"data"`
	Message string        `json:"message"`
	Time    time.Time     `json:"timestamp"`
	Seq     uint64        `json:"seq"`
}

// EventTypeServiceStatus is the type of every Event.
const EventTypeServiceStatus = "service_status"

// Progress summarises bring-up for logs, systemd STATUS= and the API.
type Progress struct {
	// Phase is the lowest core phase with a service not yet running; when
	// everything is up it equals Phases.
	Phase   int      `json:"phase"`
	Phases  int      `json:"phases"`
	Running int      `json:"running"`
	Total   int      `json:"total"`
	Waiting []string `json:"waiting,omitempty"`
	Done    bool     `json:"done"`
	// EngineError is set while the container engine cannot be reached
	// before the first discovery.
	EngineError string `json:"engine_error,omitempty"`
	// Completed counts one-shot jobs that exited 0 (restart no/on-failure).
	Completed int `json:"completed,omitempty"`
	// HostCondition is set while the engine cannot start any container
	// (network backend or OCI runtime missing: engine.ErrEngineSetup):
	// one condition of the host, not a failure of each service.
	HostCondition string `json:"host_condition,omitempty"`
}

// String is the one-line form used for systemd STATUS=.
func (p Progress) String() string {
	if p.EngineError != "" {
		return "waiting for the container engine: " + p.EngineError
	}
	if p.HostCondition != "" {
		return fmt.Sprintf("host condition: %s; %d/%d running", p.HostCondition, p.Running, p.Total)
	}
	if p.Done {
		s := fmt.Sprintf("supervising: %d/%d services running", p.Running, p.Total)
		if p.Completed > 0 {
			s += fmt.Sprintf(", %d completed", p.Completed)
		}
		return s
	}
	s := fmt.Sprintf("phase %d/%d: %d/%d running", p.Phase, p.Phases, p.Running, p.Total)
	if len(p.Waiting) > 0 {
		s += ", waiting for " + strings.Join(p.Waiting, ", ")
	}
	return s
}
