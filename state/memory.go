package state

import (
	"context"
	"maps"
	"sync"
)

// Memory is a Store in a map, for unit tests of other packages. Close does
// nothing: the data lives as long as the value, so a test can model an agent
// restart by handing the same *Memory to a new supervisor.
type Memory struct {
	mu      sync.Mutex
	records map[string]Record
}

// NewMemory returns an empty Memory store. The zero value is usable too.
func NewMemory() *Memory { return &Memory{} }

func (m *Memory) Load(context.Context) (map[string]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]Record, len(m.records))
	maps.Copy(out, m.records)
	return out, nil
}

func (m *Memory) Save(_ context.Context, r Record) error {
	if err := validName(r.Service); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.records == nil {
		m.records = map[string]Record{}
	}
	m.records[r.Service] = r
	return nil
}

func (m *Memory) Delete(_ context.Context, service string) error {
	if err := validName(service); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.records, service)
	return nil
}

func (m *Memory) Close() error { return nil }
