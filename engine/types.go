package engine

import (
	"fmt"
	"strings"
	"time"
)

// ContainerID is the engine's full container ID.
type ContainerID string

func (id ContainerID) String() string { return string(id) }

// Short is the 12-character form `podman ps` shows.
func (id ContainerID) Short() string {
	if len(id) > 12 {
		return string(id[:12])
	}
	return string(id)
}

// Status is a container's lifecycle state, Docker's vocabulary with
// Podman's extra words folded in.
type Status int

const (
	StatusUnknown Status = iota
	StatusCreated
	StatusRunning
	StatusPaused
	StatusRestarting
	StatusRemoving
	StatusExited
	StatusDead
)

var statusNames = []string{"unknown", "created", "running", "paused", "restarting", "removing", "exited", "dead"}

func (s Status) String() string {
	if s < 0 || int(s) >= len(statusNames) {
		return fmt.Sprintf("status(%d)", int(s))
	}
	return statusNames[s]
}

// ParseStatus maps an engine status word to a Status. Podman's libpod
// states (configured, initialized, stopping, stopped) come through its
// compat API on some paths, so they are folded into Docker's words.
func ParseStatus(s string) Status {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "created", "configured", "initialized":
		return StatusCreated
	case "running", "stopping":
		return StatusRunning
	case "paused":
		return StatusPaused
	case "restarting":
		return StatusRestarting
	case "removing":
		return StatusRemoving
	case "exited", "stopped":
		return StatusExited
	case "dead":
		return StatusDead
	}
	return StatusUnknown
}

// State is what Inspect says about a container's process.
type State struct {
	Status    Status
	Running   bool
	ExitCode  int
	OOMKilled bool
	PID       int
	StartedAt time.Time
	// FinishedAt is zero while the container has never stopped.
	FinishedAt time.Time
	// Health is the engine's own health status ("", starting, healthy,
	// unhealthy). Informational only: the agent runs its own probes, and
	// containers it creates have no engine health check.
	Health string
	Error  string
}

// Container is one container as the agent sees it. From List only the
// Status and Running fields of State are filled; Inspect fills the rest.
type Container struct {
	ID      ContainerID
	Name    string
	Image   string
	ImageID string // the image it was made from, with or without "sha256:"
	Project string
	Service string
	Labels  map[string]string
	// ConfigHash is the com.docker.compose.config-hash label ("" if absent).
	ConfigHash string
	// RestartPolicy is the engine's restart policy name ("no" when unset).
	RestartPolicy string
	RestartCount  int
	Created       time.Time
	State         State
	// HostPorts are the published host ports ("127.0.0.1:5432/tcp") and
	// Volumes the named volumes mounted, as a container list reports them.
	HostPorts []string
	Volumes   []string
}

// EngineRestarts reports whether the engine itself restarts this container
// when it exits (a compose `restart:` policy on an adopted container). The
// agent must then not restart it too; see the package doc.
func (c Container) EngineRestarts() bool {
	switch c.RestartPolicy {
	case "", "no":
		return false
	}
	return true
}

// Compose labels, as docker compose and podman-compose write them.
const (
	LabelProject     = "com.docker.compose.project"
	LabelService     = "com.docker.compose.service"
	LabelNumber      = "com.docker.compose.container-number"
	LabelOneoff      = "com.docker.compose.oneoff"
	LabelConfigHash  = "com.docker.compose.config-hash"
	LabelWorkingDir  = "com.docker.compose.project.working_dir"
	LabelConfigFiles = "com.docker.compose.project.config_files"
	LabelEnvFiles    = "com.docker.compose.project.environment_file"
	LabelDependsOn   = "com.docker.compose.depends_on"
	LabelImage       = "com.docker.compose.image"
	LabelNetwork     = "com.docker.compose.network"
	LabelVolume      = "com.docker.compose.volume"
	// LabelManaged marks containers the agent created (value "true").
	LabelManaged = "io.hostagent.managed"
)
