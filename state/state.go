// Package state keeps the per-service facts that must survive an agent
// restart (enabled flag, failure and restart counts, pending backoff, learned
// VRAM) and publishes status events.
//
// Four stores implement one small interface and pass one shared test suite:
//
//   - Memory: a map, for unit tests of other packages.
//   - File: one JSON file per service under <dir>/<project>/, written
//     atomically; the default and always the local truth.
//   - Redis: a hash of JSON records per project, plus an events channel.
//   - Resilient: File + Redis. The file is always written; Redis when it is
//     reachable. Losing Redis never fails a Save: the store logs once, keeps
//     serving from the file, reconnects in the background with backoff and
//     resyncs on reconnect (newest UpdatedAt wins, ties go to the file).
//
// Open builds the right one from a Config.
//
// Stores store exactly what they are given. UpdatedAt belongs to the caller:
// set it (from the injected clock) on every change, because the resync rule
// compares it.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Record is what survives an agent restart for one service.
type Record struct {
	Service      string `json:"service"`
	Enabled      bool   `json:"enabled"`
	FailureCount int    `json:"failure_count"`
	RestartCount int    `json:"restart_count"`
	// Times use omitzero (omitempty never omits a struct); a zero time
	// round-trips as the zero time.
	LastRestartAt time.Time `json:"last_restart_at,omitzero"`
	LastFailureAt time.Time `json:"last_failure_at,omitzero"`
	// NextRestartAt is a pending backoff deadline, so a restarted agent
	// resumes the wait instead of restarting at once or starting over.
	NextRestartAt  time.Time `json:"next_restart_at,omitzero"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	LearnedVRAM    uint64    `json:"learned_vram_bytes,omitempty"`
	ContainerID    string    `json:"container_id,omitempty"`
	// UpdatedAt orders versions of the record when the file and Redis
	// disagree after an outage.
	UpdatedAt time.Time `json:"updated_at"`
}

// Store holds the records of one project. Implementations are safe for
// concurrent use.
type Store interface {
	// Load returns every record of the project, keyed by service; never nil.
	Load(ctx context.Context) (map[string]Record, error)
	// Save creates or replaces the record of r.Service.
	Save(ctx context.Context, r Record) error
	// Delete removes a service's record; deleting a missing one is not an error.
	Delete(ctx context.Context, service string) error
	Close() error
}

// Publisher is implemented by stores that can broadcast status events
// (Redis, Resilient). Consumers type-assert for it.
type Publisher interface {
	Publish(ctx context.Context, payload []byte) error
}

var (
	// ErrInvalidName reports a service or project name that is empty, too
	// long, or has characters outside [A-Za-z0-9._-] (compose's own rule).
	ErrInvalidName = errors.New("state: invalid name")
	// ErrDropped reports an event that Resilient did not send because Redis
	// is unreachable or the queue is full. Supervision may ignore it.
	ErrDropped = errors.New("state: event dropped")
	// ErrClosed reports a call on a closed store.
	ErrClosed = errors.New("state: store closed")
	// errNewerFormat marks a record written by a newer agent: skipped, kept.
	errNewerFormat = errors.New("state: record format is newer than this agent")
)

// maxNameLen keeps "<name>.json.corrupt-<timestamp>" under the usual 255-byte
// file name limit.
const maxNameLen = 200

func validName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == '-':
		default:
			return fmt.Errorf("%w: %q", ErrInvalidName, name)
		}
	}
	return nil
}

// formatVersion is the version of the encoded record. Readers accept every
// version up to theirs; a record from a newer agent is skipped, never
// overwritten by a decode error path.
const formatVersion = 1

type envelope struct {
	Version int             `json:"version"`
	Record  json.RawMessage `json:"record"`
}

// encodeRecord is the on-disk and in-Redis form of a record.
func encodeRecord(r Record) ([]byte, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("state: encode %s: %w", r.Service, err)
	}
	return json.Marshal(envelope{Version: formatVersion, Record: body})
}

func decodeRecord(data []byte) (Record, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return Record{}, fmt.Errorf("state: decode: %w", err)
	}
	switch {
	case env.Version <= 0:
		return Record{}, errors.New("state: decode: missing format version")
	case env.Version > formatVersion:
		return Record{}, fmt.Errorf("%w (version %d, know %d)", errNewerFormat, env.Version, formatVersion)
	case len(env.Record) == 0 || string(env.Record) == "null":
		return Record{}, errors.New("state: decode: missing record")
	}
	var r Record
	if err := json.Unmarshal(env.Record, &r); err != nil {
		return Record{}, fmt.Errorf("state: decode record: %w", err)
	}
	if err := validName(r.Service); err != nil {
		return Record{}, fmt.Errorf("state: decode record: %w", err)
	}
	return r, nil
}

// sameRecord compares records field by field, times by instant.
func sameRecord(a, b Record) bool {
	return a.Service == b.Service &&
		a.Enabled == b.Enabled &&
		a.FailureCount == b.FailureCount &&
		a.RestartCount == b.RestartCount &&
		a.LastRestartAt.Equal(b.LastRestartAt) &&
		a.LastFailureAt.Equal(b.LastFailureAt) &&
		a.NextRestartAt.Equal(b.NextRestartAt) &&
		a.DisabledReason == b.DisabledReason &&
		a.LearnedVRAM == b.LearnedVRAM &&
		a.ContainerID == b.ContainerID &&
		a.UpdatedAt.Equal(b.UpdatedAt)
}
