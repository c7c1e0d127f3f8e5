package engine

import (
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/events"
)

// EventKind is what happened to a container.
type EventKind int

const (
	EventCreate EventKind = iota + 1
	EventStart
	// EventDie: the process exited (ExitCode is set). Every stop, kill,
	// crash and OOM ends in one.
	EventDie
	EventOOM
	EventKill
	EventStop
	// EventRestart: the engine restarted the container. The agent's own
	// Restart never produces one (it is stop + start), so this always
	// means a restart policy or a human acted.
	EventRestart
	EventDestroy
	EventHealth
	EventPause
	EventUnpause
	// EventResync: the stream was lost and is back. Events may have been
	// missed; Snapshot holds the project's containers as listed right
	// after resubscribing (nil if that listing failed: re-list). It
	// carries no container ID.
	EventResync
)

var eventNames = map[EventKind]string{
	EventCreate: "create", EventStart: "start", EventDie: "die", EventOOM: "oom",
	EventKill: "kill", EventStop: "stop", EventRestart: "restart", EventDestroy: "destroy",
	EventHealth: "health_status", EventPause: "pause", EventUnpause: "unpause", EventResync: "resync",
}

func (k EventKind) String() string {
	if s, ok := eventNames[k]; ok {
		return s
	}
	return fmt.Sprintf("event(%d)", int(k))
}

// Event is one normalised container event.
type Event struct {
	Kind    EventKind
	ID      ContainerID
	Name    string
	Project string
	Service string
	Time    time.Time
	// ExitCode is the process's exit status (EventDie).
	ExitCode int
	// Signal is the signal sent (EventKill), as the engine wrote it.
	Signal string
	// Health is healthy, unhealthy or starting (EventHealth); "" where
	// Podman sent a bare health_status (its status field does not survive
	// the Docker client): inspect the container to learn it.
	Health string
	// Replayed marks events older than the resubscription that delivered
	// them: they happened while the stream was down and come after the
	// EventResync, so state re-listed on the resync is newer than they are.
	Replayed bool
	// Action is the engine's own word for the event, for logs.
	Action string
	// Snapshot is the project's containers (EventResync only).
	Snapshot []Container
}

// eventKinds maps the engines' words for container events (the part
// before any ":") to the kinds the agent acts on; Podman says "died" and
// "remove" where Docker says "die" and "destroy".
var eventKinds = map[string]EventKind{
	"create":        EventCreate,
	"start":         EventStart,
	"die":           EventDie,
	"died":          EventDie,
	"oom":           EventOOM,
	"kill":          EventKill,
	"stop":          EventStop,
	"restart":       EventRestart,
	"destroy":       EventDestroy,
	"remove":        EventDestroy,
	"health_status": EventHealth,
	"pause":         EventPause,
	"unpause":       EventUnpause,
}

// normalize turns an engine message into an Event; ok is false for events
// the agent does not act on (init, cleanup, exec_*, attach, mount ...).
func normalize(m events.Message) (ev Event, ok bool) {
	if m.Type != "" && m.Type != events.ContainerEventType {
		return Event{}, false
	}
	action := string(m.Action)
	if action == "" {
		action = m.Status //nolint:staticcheck // old engines fill only Status
	}
	// Docker writes "health_status: healthy" and "exec_start: sh -c ...";
	// Podman writes a bare "health_status".
	base, rest, _ := strings.Cut(action, ":")
	kind, ok := eventKinds[strings.TrimSpace(base)]
	if !ok {
		return Event{}, false
	}
	attrs := m.Actor.Attributes
	id := m.Actor.ID
	if id == "" {
		id = m.ID //nolint:staticcheck // old engines fill only ID
	}
	ev = Event{
		Kind:    kind,
		ID:      ContainerID(id),
		Name:    attrs["name"],
		Project: attrs[LabelProject],
		Service: attrs[LabelService],
		Time:    eventTime(m),
		Action:  action,
	}
	switch kind {
	case EventDie:
		ev.ExitCode = exitCode(attrs)
	case EventKill:
		ev.Signal = attrs["signal"]
	case EventHealth:
		ev.Health = strings.TrimSpace(rest)
		if ev.Health == "" {
			ev.Health = attrs["health_status"]
		}
	}
	return ev, true
}

// exitCode reads a die event's exit code. Podman sets containerExitCode
// on every event (0 when it means nothing) and, on die, exitCode as
// Docker does.
func exitCode(attrs map[string]string) int {
	code, found := atoi(attrs["exitCode"])
	if !found {
		code, _ = atoi(attrs["containerExitCode"])
	}
	return code
}

func eventTime(m events.Message) time.Time {
	if m.TimeNano != 0 {
		return time.Unix(0, m.TimeNano)
	}
	return time.Unix(m.Time, 0)
}
