package state

import "testing"

func TestMemoryStore(t *testing.T) {
	testStore(t, func(t *testing.T) opener {
		stores := map[string]*Memory{}
		return func(t *testing.T, project string) Store {
			if m, ok := stores[project]; ok {
				return m
			}
			m := NewMemory()
			stores[project] = m
			return m
		}
	})
}

func TestMemoryZeroValueUsable(t *testing.T) {
	var m Memory
	if err := m.Save(t.Context(), Record{Service: "a", RestartCount: 2}); err != nil {
		t.Fatal(err)
	}
	got, err := m.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got["a"].RestartCount != 2 {
		t.Fatalf("got %+v", got)
	}
}
