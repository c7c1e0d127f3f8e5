// Package compose loads a stack's compose files with compose-go and derives
// what the agent needs from them: services with categories, hard and soft
// dependencies, health specs, GPU needs, and the phased startup plan.
package compose

import (
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// Stack is a loaded compose project, reduced to what the agent supervises.
type Stack struct {
	// Name is the compose project name (containers are labelled with it).
	Name       string
	WorkingDir string
	Files      []string
	// EnvFiles are the environment files read (absolute): the ones given,
	// else the project directory's .env when there is one.
	EnvFiles []string
	// Services are the active services (profiles applied), sorted by name.
	Services []Service
	// Project is compose-go's full model, kept for creating containers the
	// way compose would.
	Project *types.Project
	// Warnings are non-fatal findings (obsolete `version:` key, ...), and
	// each of Unsupported as a sentence; the agent logs them at load.
	Warnings []string
	// Unsupported are the compose keys the agent does not carry into the
	// containers, per service, with what happens instead.
	Unsupported []Warning

	// redactor hides the stack's secret values (see newRedactor).
	redactor *Redactor
}

// Redactor hides the stack's secret values in text derived from the stack
// or its containers; nil (nothing to hide) is usable.
func (s *Stack) Redactor() *Redactor {
	if s == nil {
		return nil
	}
	return s.redactor
}

// Service returns the named service.
func (s *Stack) Service(name string) (*Service, bool) {
	for i := range s.Services {
		if s.Services[i].Name == name {
			return &s.Services[i], true
		}
	}
	return nil, false
}

// Service is one compose service as the agent sees it.
type Service struct {
	Name        string
	DisplayName string
	// Image is the image to run; `<project>-<service>` for build-only services.
	Image    string
	Category Category
	// DependsOn holds the explicit depends_on entries (compose-go adds the
	// implicit ones from links, volumes_from and network_mode: service:x).
	DependsOn []Dependency
	Health    HealthSpec
	GPU       GPUNeed
	Ports     []Port
	// StartupEstimate is how long the service is expected to take to become
	// healthy (start_period unless x-hostagent says otherwise).
	StartupEstimate time.Duration
	Restart         RestartOverride
	// RestartPolicy is compose's `restart:`; unset means the agent's policy.
	RestartPolicy RestartPolicy
	// PhaseOverride pins the service to a later phase (0 = computed).
	PhaseOverride int
	Profiles      []string
	// Config is compose-go's service definition, for the engine adapter.
	Config types.ServiceConfig
	// VolumeOptions are the short-syntax volume options as written, by
	// container path. compose-go keeps only those it knows (ro/rw, z/Z,
	// propagation, nocopy) in Config.Volumes and drops the rest, Podman's
	// U among them; see EngineVolumeOptions.
	VolumeOptions map[string][]string `json:"-"`
}

// EngineVolumeOptions are the options of the volume mounted at target
// that Config.Volumes lacks and the engine adapter passes on: Podman's U
// (chown the mount to the container's user).
func (s Service) EngineVolumeOptions(target string) []string {
	var out []string
	for _, o := range s.VolumeOptions[target] {
		if o == "U" {
			out = append(out, o)
		}
	}
	return out
}

// StopTimeout is how long the service's container gets to stop before it
// is killed: its stop_grace_period, else def.
func (s Service) StopTimeout(def time.Duration) time.Duration {
	if g := s.Config.StopGracePeriod; g != nil && *g >= 0 {
		return time.Duration(*g)
	}
	return def
}

// Dependency is one edge "this service waits for Service".
type Dependency struct {
	Service   string    `json:"service"`
	Condition Condition `json:"condition"`
	// Required false is a soft dependency: a degraded start, never a block.
	Required bool `json:"required"`
	// Restart true: restart this service after Service was restarted.
	Restart bool `json:"restart,omitempty"`
	// Implicit marks edges from the category order rather than depends_on.
	Implicit bool `json:"implicit,omitempty"`
}

// Condition is a depends_on condition.
type Condition string

const (
	ConditionStarted   Condition = types.ServiceConditionStarted
	ConditionHealthy   Condition = types.ServiceConditionHealthy
	ConditionCompleted Condition = types.ServiceConditionCompletedSuccessfully
)

// HealthMethod is how a service's health is checked, in priority order:
// an HTTP endpoint, else a command in the container, else running
// status.
type HealthMethod string

const (
	HealthHTTP    HealthMethod = "http"
	HealthCommand HealthMethod = "command"
	HealthRunning HealthMethod = "running"
	// HealthNone: the compose file disabled the check (test: NONE).
	HealthNone HealthMethod = "none"
)

// HealthSpec says how and how often to check a service.
type HealthSpec struct {
	Method HealthMethod `json:"method"`
	// URL is the HTTP endpoint probed from the host (method http).
	URL string `json:"url,omitempty"`
	// Command is the argv executed in the container (method command). A
	// CMD-SHELL or string test becomes ["/bin/sh", "-c", script].
	Command []string `json:"command,omitempty"`
	// Shell is the original CMD-SHELL/string script, for display.
	Shell         string        `json:"shell,omitempty"`
	Interval      time.Duration `json:"interval"`
	Timeout       time.Duration `json:"timeout"`
	Retries       int           `json:"retries"`
	StartPeriod   time.Duration `json:"start_period"`
	StartInterval time.Duration `json:"start_interval,omitempty"`
}

// GPUNeed is what a service asks of the GPU.
type GPUNeed struct {
	// Required is true for compose GPU device reservations, CDI
	// nvidia.com/gpu devices, or x-hostagent gpu: true.
	Required bool `json:"required"`
	// Count is the number of GPUs asked for; -1 means all.
	Count     int      `json:"count,omitempty"`
	DeviceIDs []string `json:"device_ids,omitempty"`
	// VRAMBytes is the declared VRAM need (x-hostagent vram), 0 if unknown.
	VRAMBytes uint64 `json:"vram_bytes,omitempty"`
}

// Port is a published port.
type Port struct {
	HostIP        string `json:"host_ip,omitempty"`
	HostPort      int    `json:"host_port"`
	ContainerPort int    `json:"container_port"`
	Protocol      string `json:"protocol"`
}

// RestartOverride holds per-service restart settings; zero fields take the
// category defaults.
type RestartOverride struct {
	MaxFailures int           `json:"max_failures,omitempty"`
	BackoffBase time.Duration `json:"backoff_base,omitempty"`
	BackoffMax  time.Duration `json:"backoff_max,omitempty"`
}
